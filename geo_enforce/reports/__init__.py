"""Area totals for the annual enforcement report (行政执法工作报告).

- :mod:`.query`: grouped totals (sum of records and dissolved footprint) over structures,
  cleared parcels and change patches, with filters;
- :mod:`.phrasing`: rounding rules and the report's wording (约69亩, 69余亩, 20余宗);
- :mod:`.annual`: the year's tables and paragraphs; :mod:`.export` writes XLSX, DOCX, CSV;
- :mod:`.console`: rich tables for the terminal and the demo.
"""

from geo_enforce.reports.annual import AnnualReport, build_annual
from geo_enforce.reports.console import print_area_totals
from geo_enforce.reports.export import write_annual
from geo_enforce.reports.query import AreaQuery, AreaReport, GroupTotal, area_totals

__all__ = [
    "AnnualReport",
    "AreaQuery",
    "AreaReport",
    "GroupTotal",
    "area_totals",
    "build_annual",
    "print_area_totals",
    "write_annual",
]
