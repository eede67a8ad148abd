"""Issue 13 items 2, 7, 8: plausible dates at every boundary (library, CLI, EXIF, import), the
.shp/.dbf record-count check, the feature, vertex and pixel limits on every path."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest
from shapely.geometry import Polygon
from sqlalchemy import func, select, text

from geo_enforce.errors import InvalidInput, TooLarge
from geo_enforce.imagery.flights import register_flight
from geo_enforce.io import sanity
from geo_enforce.io.importer import import_frame, import_layer
from geo_enforce.io.reader import read_vector
from geo_enforce.ledger import edits, lifecycle
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import Flight, Structure
from tests.support import hostile
from tests.support import layer_files as lf

YEAR_ONE = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))


# --- the shared check -----------------------------------------------------------------------


def test_plausible_range():
    assert sanity.check_date(dt.date(1949, 10, 1), "d") == dt.date(1949, 10, 1)
    assert sanity.is_plausible(sanity.beijing_today() + dt.timedelta(days=300))
    for bad in (
        dt.date(1, 1, 1),
        dt.date(1949, 9, 30),
        sanity.beijing_today() + dt.timedelta(days=400),
    ):
        with pytest.raises(InvalidInput, match=r"flown_on: .* outside the plausible range"):
            sanity.check_date(bad, "flown_on")
    with pytest.raises(InvalidInput, match="verified_at: 0001-01-01T00:00:00\\+08:00"):
        sanity.check_datetime(YEAR_ONE, "verified_at")
    with pytest.raises(InvalidInput, match="verified_at needs a time zone"):
        sanity.check_datetime(dt.datetime(2024, 1, 1), "verified_at")
    assert sanity.latest_date(dt.date(2028, 2, 29)) == dt.date(2029, 2, 28)
    # rendering never raises
    assert sanity.safe_local(dt.datetime(1, 1, 1, tzinfo=dt.UTC)).startswith("0001-01-01 08:")
    assert sanity.safe_local("2026-05-01T01:30:00+00:00") == "2026-05-01 09:30"
    assert sanity.safe_local(dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)).startswith("9999-12-31")
    assert sanity.safe_local(None) == "—" and sanity.safe_iso(None) is None


def test_positions_are_counted_before_a_geometry_is_built():
    square = [[0, 0], [1, 0], [1, 1], [0, 0]]
    sanity.check_positions([square, square], 8, "polygon")  # a polygon with a hole: 8
    with pytest.raises(TooLarge, match="multi: the geometry has 12 vertices, over the limit of 8"):
        sanity.check_positions([[square], [square, square]], 8, "multi")
    sanity.check_positions([], 8, "empty")


# --- library write paths --------------------------------------------------------------------


def test_library_writes_refuse_implausible_dates(sessions):
    with transaction(sessions, "t") as s:
        sq = Polygon([(lf.X0, lf.Y0), (lf.X0 + 1e-4, lf.Y0), (lf.X0, lf.Y0 + 1e-4)])
        with pytest.raises(InvalidInput, match="structure S-1: discovered_on: 0001-01-01"):
            edits.create_structure(
                s, case_no="S-1", geometry=sq, category="other", discovered_on=dt.date(1, 1, 1)
            )
        st = edits.create_structure(s, case_no="S-2", geometry=sq, category="other")
        with pytest.raises(InvalidInput, match="effective_on: 2204-05-01"):
            lifecycle.transition(
                s, st, "verified", actor="t", reason="核实", effective_on=dt.date(2204, 5, 1)
            )


def test_flight_date_and_pixel_cap_by_header(sessions, tmp_path):
    """A sparse 10000 × 10000 GeoTIFF is about 13 kB; it is refused from its header."""
    path = hostile.sparse_geotiff(tmp_path / "sparse.tif")
    assert path.stat().st_size < 100_000
    with transaction(sessions, "t") as s:
        with pytest.raises(TooLarge, match=r"orthophoto .*sparse\.tif is 10000 × 10000"):
            register_flight(
                s,
                ortho_path=path,
                flown_on=dt.date(2024, 5, 1),
                data_dir=tmp_path / "var",
                max_pixels=80_000_000,
            )
        with pytest.raises(InvalidInput, match="flown_on: 0001-01-01"):
            register_flight(
                s, ortho_path=path, flown_on=dt.date(1, 1, 1), data_dir=tmp_path / "var"
            )
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Flight)) == 0
    assert not (tmp_path / "var" / "flights").exists()


# --- import ---------------------------------------------------------------------------------


def test_import_refuses_implausible_dates_by_feature(sessions, tmp_path):
    gdf = lf.structures(3)
    gdf.loc[1, "发现日期"] = "0001-01-01"
    with pytest.raises(InvalidInput, match=r"feature 2 .*0001-01-01 is outside the plausible"):
        with transaction(sessions, "t") as s:
            import_frame(s, "structure", gdf, source="dates.gpkg")


def _truncate_dbf(dbf: Path, keep: int) -> None:
    raw = bytearray(dbf.read_bytes())
    header_len, record_len = struct.unpack("<HH", raw[8:12])
    raw[4:8] = struct.pack("<I", keep)
    dbf.write_bytes(bytes(raw[: header_len + keep * record_len]) + b"\x1a")


def test_shapefile_with_fewer_dbf_records_is_refused(sessions, tmp_path):
    path = lf.write(lf.structures(3), tmp_path / "three.shp", encoding="GB18030")
    assert len(read_vector(path)) == 3
    _truncate_dbf(path.with_suffix(".dbf"), 1)
    with pytest.raises(InvalidInput, match=r"three.shp: the .shp has 3 shapes but the .dbf has 1"):
        read_vector(path)
    with pytest.raises(InvalidInput, match="3 shapes"), transaction(sessions, "t") as s:
        import_layer(s, "structure", path)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Structure)) == 0


def test_vertex_cap_on_import_and_edits(sessions, tmp_path):
    gdf = lf.structures(3)
    gdf.loc[2, "geometry"] = hostile.ring(500, lf.X0 + 0.01)
    with pytest.raises(TooLarge, match=r"feature 3 \(案件编号=WJ-2024-003\) has 501"):
        with transaction(sessions, "t") as s:
            import_frame(s, "structure", gdf, source="big.gpkg", max_vertices=200)
    path = lf.write(gdf, tmp_path / "big.gpkg")
    with pytest.raises(TooLarge, match=r"big\.gpkg: 1 feature"), transaction(sessions, "t") as s:
        import_layer(s, "structure", path, max_vertices=200)
    with transaction(sessions, "t") as s:  # default cap 100 000: accepted
        assert import_layer(s, "structure", path).inserted == 3
    with pytest.raises(TooLarge, match="structure X-1: the geometry has 100,001 vertices"):
        with transaction(sessions, "t") as s:
            edits.create_structure(
                s, case_no="X-1", geometry=hostile.ring(100_000), category="other"
            )


# --- the command line -----------------------------------------------------------------------


def test_cli_enforces_limits_and_dates(sessions, db_url, tmp_path, monkeypatch):
    path = lf.write(lf.structures(3), tmp_path / "three.gpkg")
    with hostile.cli(monkeypatch, db_url, GEO_ENFORCE_LIMITS__MAX_IMPORT_FEATURES="2") as run:
        r = run("import", "structure", path)
    assert isinstance(r.exception, TooLarge), r.output
    assert "three.gpkg has 3 features, over the limit of 2" in str(r.exception)
    with hostile.cli(
        monkeypatch,
        db_url,
        GEO_ENFORCE_LIMITS__MAX_IMPORT_FEATURES="10",
        GEO_ENFORCE_LIMITS__MAX_VERTICES="4",
    ) as run:
        r = run("import", "structure", path)
        assert isinstance(r.exception, TooLarge) and "more than 4 vertices" in str(r.exception)
        r = run("flight", "add", path, "--date", "0001-01-01")
    assert isinstance(r.exception, InvalidInput)
    assert "--date: 0001-01-01 is outside the plausible range" in str(r.exception)
    with sessions() as s:
        assert s.scalar(text("SELECT count(*) FROM structure")) == 0
