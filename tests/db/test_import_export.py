"""Import and export on a real PostGIS: round trips, encodings, CRSs, idempotence, GCJ-02."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, box
from sqlalchemy import text
from typer.testing import CliRunner

from geo_enforce.errors import InvalidInput
from geo_enforce.geometry import crs as crs_mod
from geo_enforce.geometry.areas import ellipsoidal_area_m2
from geo_enforce.io import export_layer, import_frame, import_layer, read_layer, read_vector
from geo_enforce.io.catalogue import get_catalogue, load_catalogue
from geo_enforce.settings import Settings
from geo_enforce.storage import localdb
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from geo_enforce.storage.models import LAYER_MODELS
from tests.conftest import ROOT, clone_database
from tests.support import layer_files as lf

FORMATS = ["gpkg", "shp", "geojson", "kml", "csv"]


@pytest.fixture
def other_sessions(pg_port, template_db):
    """A second fresh database, for import → export → import into an empty store."""
    name = clone_database(pg_port, template_db)
    eng = make_engine(localdb.url_for(pg_port, name))
    yield make_sessionmaker(eng)
    eng.dispose()
    localdb.drop_database(pg_port, name)


def counts(sessions) -> tuple[int, int]:
    with sessions() as s:
        n = s.execute(text("SELECT count(*) FROM structure")).scalar_one()
        a = s.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    return n, a


def stored(sessions, layer: str = "structure") -> gpd.GeoDataFrame:
    with sessions() as s:
        return read_layer(s, layer).set_index(get_catalogue().layer(layer).key)


# --- catalogue -------------------------------------------------------------------------------


def test_catalogue_fields_are_model_columns_with_matching_types():
    kinds = {
        "str": "VARCHAR",
        "int": "INTEGER",
        "float": "DOUBLE",
        "date": "DATE",
        "bool": "BOOLEAN",
    }
    cat = load_catalogue()
    assert set(cat.layers) == set(LAYER_MODELS)
    for name, spec in cat.layers.items():
        table: Any = LAYER_MODELS[name].__table__
        assert spec.table == table.name
        assert table.c[spec.key].unique, f"{name}.{spec.key} is not unique"
        for f in spec.fields:
            col = table.c[f.name]
            assert kinds[f.type] in str(col.type).upper() or (
                f.type == "str" and str(col.type).upper() == "TEXT"
            ), (name, f.name, col.type)
            if not col.nullable and col.server_default is None:
                assert f.required, f"{name}.{f.name} is NOT NULL without default: must be required"


def test_catalogue_override_and_validation(tmp_path, monkeypatch):
    from geo_enforce.errors import ConfigError

    bad = tmp_path / "cat.yaml"
    text_ = (ROOT / "layers" / "catalogue.yaml").read_text(encoding="utf-8")
    bad.write_text(text_.replace("vocab: STRUCTURE_STATUSES", "vocab: NO_SUCH_VOCAB"), "utf-8")
    with pytest.raises(ConfigError, match="NO_SUCH_VOCAB"):
        load_catalogue(bad)
    # GEO_ENFORCE_CATALOGUE reaches the loader through Settings (never read from os.environ)
    monkeypatch.setenv("GEO_ENFORCE_CATALOGUE", str(bad))
    with pytest.raises(ConfigError, match=re.escape(str(bad))):
        load_catalogue(Settings().catalogue)
    assert "structure" in load_catalogue().layers  # the packaged one when none is named


def test_docs_describe_every_layer_and_field():
    doc = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    for name, spec in load_catalogue().layers.items():
        section = doc.split(f"## `{name}`", 1)
        assert len(section) == 2, f"docs/layers.md lacks a section for {name}"
        body = section[1].split("\n## ", 1)[0]
        assert f"key `{spec.key}`" in body
        for f in spec.fields:
            row = next((ln for ln in body.splitlines() if ln.startswith(f"| `{f.name}` ")), None)
            assert row is not None, f"docs/layers.md: {name}.{f.name} missing"
            assert f.zh in row and f.type in row
            assert ("yes" in row.split("|")[4]) == f.required, (name, f.name)


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_geometry_area_and_attributes(sessions, other_sessions, tmp_path, fmt):
    src = lf.write(lf.structures(), tmp_path / "source.gpkg")
    with transaction(sessions, "test") as s:
        first = import_layer(s, "structure", src)
    assert (first.inserted, first.updated, first.unchanged) == (12, 0, 0)

    out = tmp_path / f"export.{fmt}"
    with sessions() as s:
        assert export_layer(s, "structure", out) == 12
    with transaction(other_sessions, "test") as s:
        again = import_layer(s, "structure", out)
    assert again.inserted == 12 and not again.repaired

    a, b = stored(sessions), stored(other_sessions)
    assert list(a.index) == list(b.index)
    for key in a.index:
        ga, gb = a.geometry[key], b.geometry[key]
        assert shapely.hausdorff_distance(ga, gb) < 1e-10, key
        assert b.area_m2[key] == pytest.approx(a.area_m2[key], rel=1e-9)
        assert b.area_m2[key] == pytest.approx(ellipsoidal_area_m2(ga), rel=1e-6)
    cols = ["category", "floors", "address", "status", "discovered_on", "notes"]
    assert a[cols].astype(str).equals(b[cols].astype(str))
    assert a.address.iloc[0] == "大任庄村1号院东侧" and a.category.iloc[0] == "villa"


def test_reimport_is_idempotent_and_audits_only_changes(sessions, tmp_path):
    src = lf.write(lf.structures(), tmp_path / "s.gpkg")
    with transaction(sessions, "cli:alice") as s:
        import_layer(s, "structure", src)
    n0, audit0 = counts(sessions)
    assert (n0, audit0) == (12, 12)
    with transaction(sessions, "cli:alice") as s:
        r = import_layer(s, "structure", src)
    assert (r.inserted, r.updated, r.unchanged) == (0, 0, 12)
    assert counts(sessions) == (12, 12)

    changed = lf.structures()
    changed.loc[2, "层数"] = 5
    changed.loc[4, "geometry"] = box(117.21, 39.01, 117.2102, 39.0102)
    lf.write(changed, tmp_path / "s2.gpkg")
    with transaction(sessions, "cli:bob") as s:
        r = import_layer(s, "structure", tmp_path / "s2.gpkg")
    assert (r.inserted, r.updated, r.unchanged) == (0, 2, 10)
    with sessions() as s:
        rows = s.execute(
            text("SELECT actor, action FROM audit_log WHERE actor = 'cli:bob' ORDER BY id")
        ).all()
        area = s.execute(text("SELECT area_m2 FROM structure WHERE case_no = 'WJ-2024-005'"))
        assert area.scalar_one() == pytest.approx(
            ellipsoidal_area_m2(box(117.21, 39.01, 117.2102, 39.0102)), rel=1e-9
        )
    assert [tuple(r) for r in rows] == [("cli:bob", "update")] * 2


def test_reimport_over_a_retired_record_warns_and_keeps_it_retired(sessions, tmp_path):
    src = lf.write(lf.structures(3), tmp_path / "s.gpkg")
    with transaction(sessions, "t") as s:
        import_layer(s, "structure", src)
        s.execute(
            text(
                "UPDATE structure SET retired_at = now(), retired_by = 't', "
                "retire_reason = 'duplicate' WHERE case_no = 'WJ-2024-002'"
            )
        )
    changed = lf.structures(3)
    changed["层数"] = 3
    with transaction(sessions, "t") as s:
        r = import_layer(s, "structure", lf.write(changed, tmp_path / "s2.gpkg"))
    assert len(r.warnings) == 1 and "WJ-2024-002 match retired records" in r.warnings[0]
    with sessions() as s:
        row = s.execute(
            text(
                "SELECT floors, retired_at IS NOT NULL FROM structure WHERE case_no = 'WJ-2024-002'"
            )
        ).one()
    assert tuple(row) == (3, True)


@pytest.mark.parametrize("with_cpg", [True, False], ids=["cpg", "detected"])
def test_gbk_shapefile_keeps_chinese(sessions, tmp_path, with_cpg):
    shp = tmp_path / "违建.shp"
    lf.structures().to_file(shp, encoding="GBK")
    raw = shp.with_suffix(".dbf").read_bytes()
    assert "大任庄村".encode("gbk") in raw and "大任庄村".encode() not in raw
    if not with_cpg:
        shp.with_suffix(".cpg").unlink()
    with transaction(sessions, "test") as s:
        r = import_layer(s, "structure", shp)
    assert r.inserted == 12 and r.columns["案件编号"] == "case_no"
    got = stored(sessions)
    assert got.address["WJ-2024-003"] == "大任庄村3号院东侧"
    assert got.notes["WJ-2024-002"] == "群众举报"
    assert got.status["WJ-2024-003"] == "notice_served"  # 责令限期拆除


def test_projected_and_wgs84_sources_store_the_same_geometry(sessions, tmp_path):
    base = lf.structures(6)
    ref = None
    for epsg in (4548, 4527, 4326):
        path = tmp_path / f"s_{epsg}.gpkg"
        base.to_crs(epsg).to_file(path)
        gdf = read_vector(path)
        assert gdf.crs.to_epsg() == 4490
        if ref is None:
            ref = gdf
        for g, h in zip(ref.geometry, gdf.geometry, strict=True):
            assert shapely.hausdorff_distance(g, h) < 1e-9  # < 0.1 mm
    # a shapefile without .prj needs --crs; Gauss-Krüger coordinates with it import fine
    nopj = tmp_path / "gk.shp"
    base.to_crs(4548).to_file(nopj, encoding="GBK")  # GBK: 4 Chinese characters fit 10 bytes
    nopj.with_suffix(".prj").unlink()
    with transaction(sessions, "test") as s:
        r = import_layer(s, "structure", nopj, crs="EPSG:4548")
    assert r.inserted == 6
    got = stored(sessions)
    for key, g in zip(base["案件编号"], base.geometry, strict=True):
        assert got.area_m2[key] == pytest.approx(ellipsoidal_area_m2(g), rel=1e-7)


def test_dxf_closed_polylines_and_hatches_become_polygons(sessions, tmp_path):
    x0, y0 = 520_000.0, 4_318_000.0  # EPSG:4548, east of Tianjin's CM
    hatch = box(x0, y0, x0 + 40, y0 + 30)
    ring = LineString([(x0 + 100, y0), (x0 + 150, y0), (x0 + 150, y0 + 20), (x0 + 100, y0)])
    open_line = LineString([(x0, y0 + 100), (x0 + 10, y0 + 100)])
    dxf = tmp_path / "parcels.dxf"
    pyogrio.write_dataframe(
        gpd.GeoDataFrame({"Layer": ["腾退"] * 2}, geometry=[hatch, ring]), dxf, driver="DXF"
    )
    with transaction(sessions, "test") as s:
        r = import_layer(s, "cleared_parcel", dxf, crs=4548, field_map="EntityHandle=parcel_no")
    assert r.inserted == 2
    with sessions() as s:
        areas = sorted(s.execute(text("SELECT area_m2 FROM cleared_parcel")).scalars())
    expected = sorted(
        ellipsoidal_area_m2(crs_mod.transform_geometry(g, 4548))
        for g in (hatch, shapely.Polygon(ring.coords))
    )
    assert areas == pytest.approx(expected, rel=1e-9)
    assert areas[0] == pytest.approx(500, rel=1e-3) and areas[1] == pytest.approx(1200, rel=1e-3)
    # an open polyline is no polygon: refused, naming the feature
    dxf = tmp_path / "open.dxf"
    pyogrio.write_dataframe(gpd.GeoDataFrame(geometry=[hatch, open_line]), dxf, driver="DXF")
    with (
        transaction(sessions, "test") as s,
        pytest.raises(InvalidInput, match=r"feature 2.*LineString"),
    ):
        import_layer(s, "cleared_parcel", dxf, crs=4548, field_map="EntityHandle=parcel_no")


def test_csv_with_wkt_gbk_and_field_map_file(sessions, tmp_path):
    gdf = lf.structures(5)
    df = gdf.drop(columns="geometry").rename(columns={"案件编号": "编号X", "违建类别": "kind"})
    df["WKT"] = gdf.geometry.to_wkt()
    csv = tmp_path / "ledger.csv"
    df.to_csv(csv, index=False, encoding="gbk")
    fmap = tmp_path / "map.json"
    fmap.write_text(json.dumps({"编号X": "case_no", "kind": "违建类别"}, ensure_ascii=False))
    with transaction(sessions, "test") as s:
        r = import_layer(s, "structure", csv, crs=4490, field_map=fmap)
    assert r.inserted == 5
    got = stored(sessions)
    assert got.address["WJ-2024-002"] == "大任庄村2号院东侧"
    assert got.category["WJ-2024-003"] == "steel_shed"


def test_invalid_geometry_is_repaired_and_listed(sessions, tmp_path):
    gdf = lf.structures(3)
    x, y = 117.205, 39.005
    gdf.loc[1, "geometry"] = shapely.Polygon(
        [(x, y), (x + 0.001, y + 0.001), (x + 0.001, y), (x, y + 0.001)]
    )
    path = lf.write(gdf, tmp_path / "bowtie.geojson")
    with transaction(sessions, "test") as s:
        r = import_layer(s, "structure", path)
    assert r.inserted == 3
    assert len(r.repaired) == 1 and r.repaired[0].startswith("feature 2")
    assert "Self-intersection" in r.repaired[0]
    got = stored(sessions)
    assert got.geometry["WJ-2024-002"].geom_type == "MultiPolygon"
    assert got.area_m2["WJ-2024-002"] > 0


def _village(x0: float, y0: float, size: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["120111001001"], "name": ["大任庄村"], "level": ["行政村"]},
        geometry=[box(x0, y0, x0 + size, y0 + size)],
        crs=4490,
    )


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_offset_layer_warns_and_conversion_moves_it_onto_admin_boundaries(sessions, datum):
    with transaction(sessions, "test") as s:
        import_frame(s, "admin_area", _village(117.1995, 38.9995, 0.009))
    true = lf.structures(30)
    shifted = true.copy()

    def to_bd09(g):
        return crs_mod._apply(crs_mod.geometry_to_gcj02(g), crs_mod.gcj02_to_bd09)

    to = crs_mod.geometry_to_gcj02 if datum == "gcj02" else to_bd09
    shifted["geometry"] = [to(g) for g in true.geometry]
    flag = {"from_gcj02": True} if datum == "gcj02" else {"from_bd09": True}
    name = "GCJ-02" if datum == "gcj02" else "BD-09"

    with transaction(sessions, "test") as s:
        r = import_frame(s, "structure", shifted, source="amap.geojson")
        s.rollback()
    assert len(r.warnings) == 1
    w = r.warnings[0]
    assert w.startswith("amap.geojson:") and name in w and f"--from-{datum}" in w
    off = re.search(r"about (\d+) m off", w)
    assert off is not None, w
    metres = float(off.group(1))
    assert 300 < metres < 1500

    from geo_enforce.io.reader import to_cgcs2000

    fixed = to_cgcs2000(shifted, "amap.geojson", **flag)
    with transaction(sessions, "test") as s:
        r = import_frame(s, "structure", fixed)
        assert not [w for w in r.warnings if "admin boundaries" in w]
        inside = s.execute(
            text(
                "SELECT count(*) FROM structure st JOIN admin_area a ON ST_Within(st.geom, a.geom)"
            )
        ).scalar_one()
    assert inside == 30
    got = stored(sessions)
    for key, g in zip(true["案件编号"], true.geometry, strict=True):
        # GCJ-02 is inverted by iteration (< 1 cm); BD-09 → GCJ-02 is the published closed-form
        # approximation, good to about 5 cm here
        tol = 1e-7 if datum == "gcj02" else 1e-6
        assert shapely.hausdorff_distance(got.geometry[key], g) < tol


def test_cli_import_dry_run_then_import_then_export(db_url, tmp_path, monkeypatch):
    from geo_enforce.cli import app, common

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:tester")
    common.settings.cache_clear()
    common.engine.cache_clear()
    try:
        src = lf.write(lf.structures(4), tmp_path / "s.gpkg")
        runner = CliRunner()
        res = runner.invoke(app, ["import", "structure", str(src), "--dry-run"])
        assert res.exit_code == 0, res.output
        assert "新增" in res.output and "试运行" in res.output
        eng = make_engine(db_url)
        with eng.connect() as c:
            assert c.execute(text("SELECT count(*) FROM structure")).scalar_one() == 0
        res = runner.invoke(app, ["import", "structure", str(src), "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["inserted"] == 4
        with eng.connect() as c:
            assert (
                c.execute(
                    text("SELECT count(*) FROM audit_log WHERE actor = 'cli:tester'")
                ).scalar_one()
                == 4
            )
        eng.dispose()
        out = tmp_path / "out.shp"
        res = runner.invoke(app, ["export", "structure", str(out), "--no-private"])
        assert res.exit_code == 0, res.output
        assert out.with_suffix(".cpg").read_text().strip() == "UTF-8"
        back = read_vector(out)
        assert len(back) == 4 and "party_name" not in back.columns
        assert np.allclose(sorted(back.area_m2), sorted(stored_areas(db_url)))
    finally:
        common.settings.cache_clear()
        common.engine.cache_clear()


def stored_areas(url: str) -> list[float]:
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            return list(c.execute(text("SELECT area_m2 FROM structure")).scalars())
    finally:
        eng.dispose()


def test_read_vector_names_missing_file(tmp_path: Path):
    from geo_enforce.errors import NotFound

    with pytest.raises(NotFound, match=r"nope\.gpkg"):
        read_vector(tmp_path / "nope.gpkg")


def test_sample_township_round_trips_unchanged_and_gcj02_copy_warns(sessions, tmp_path):
    from geo_enforce.demo.sample import LAYER_ORDER, build_township, load_township

    counts = load_township(sessions)
    with sessions() as s:
        audit0 = s.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    for i, layer in enumerate(LAYER_ORDER):
        out = tmp_path / f"{layer}.{FORMATS[i % len(FORMATS)]}"
        with sessions() as s:
            assert export_layer(s, layer, out) == counts[layer]
        with transaction(sessions, "test") as s:
            r = import_layer(s, layer, out)
        assert (r.inserted, r.updated, r.unchanged) == (0, 0, counts[layer]), (layer, out.name)
        assert not r.warnings and not r.repaired
    with sessions() as s:
        assert s.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == audit0

    shifted = build_township()["structure"]
    shifted["geometry"] = [crs_mod.geometry_to_gcj02(g) for g in shifted.geometry]
    with transaction(sessions, "test") as s:
        r = import_frame(s, "structure", shifted, source="traced-on-amap.geojson")
        s.rollback()
    assert len(r.warnings) == 1 and "GCJ-02" in r.warnings[0], r.warnings
    assert "their villages/communities" in r.warnings[0] and "--from-gcj02" in r.warnings[0]
