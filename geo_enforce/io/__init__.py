"""Vector import and export: read any supported file into CGCS2000, upsert layers, export them."""

from geo_enforce.io.exporter import export_layer, read_layer
from geo_enforce.io.importer import ImportReport, import_frame, import_layer, parse_field_map
from geo_enforce.io.reader import read_vector

__all__ = [
    "ImportReport",
    "export_layer",
    "import_frame",
    "import_layer",
    "parse_field_map",
    "read_layer",
    "read_vector",
]
