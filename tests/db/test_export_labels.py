"""Exports carry Chinese labels next to coded fields and the village name next to its code, in
every format (shapefiles with 10-character names), and importing such a file changes nothing."""

from __future__ import annotations

import csv

import pyogrio
import pytest

from geo_enforce.io.exporter import export_layer
from geo_enforce.io.importer import import_layer
from geo_enforce.storage.engine import transaction
from tests.support.mapdata import CLICK_CASE, seed_ledger


@pytest.fixture
def seeded(sessions, tmp_path):
    return seed_ledger(sessions, tmp_path / "var", flights=False)


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "csv"])
def test_labels_and_village_names_travel(sessions, seeded, tmp_path, fmt):
    out = tmp_path / f"structure.{fmt}"
    with sessions() as s:
        assert export_layer(s, "structure", out) == 8
    if fmt == "csv":
        with out.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    else:
        rows = pyogrio.read_dataframe(out).drop(columns="geometry").to_dict("records")
    row = next(r for r in rows if r["case_no"] == CLICK_CASE)
    short = fmt == "shp"
    assert row["status_zh" if short else "status_label"] == "责令限期拆除"
    assert row["categor_zh" if short else "category_label"] == "违建别墅"
    assert row["village_nm" if short else "village_name"] == "大任庄村"
    assert row["status"] == "notice_served"  # the code itself stays, so the file imports again

    with transaction(sessions, "test:reimport") as s:
        report = import_layer(s, "structure", out)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 8)
