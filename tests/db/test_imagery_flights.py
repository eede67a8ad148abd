"""Flight catalogue against PostGIS: registration, COG, STAC, refusals that store nothing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import rasterio
from PIL import Image
from sqlalchemy import func, select

from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.detection.service import create_run
from geo_enforce.errors import Conflict, ImageryError, NotFound
from geo_enforce.imagery import rasters
from geo_enforce.imagery.flights import list_flights, register_flight, retire_flight
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import Flight

D1, D2 = dt.date(2024, 4, 1), dt.date(2024, 6, 1)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return synthetic_pair(tmp_path_factory.mktemp("fl"), seed=31, size_px=(600, 600))


def _register(sessions, data_dir, **kw):
    with transaction(sessions, "test") as s:
        f = register_flight(s, data_dir=data_dir, **kw)
        return f.id, f.name, f.ortho_path, f.dsm_path, f.stac, f.gsd_m


def test_register_converts_to_cog_and_stores_a_stac_item(sessions, tmp_path, pair):
    fid, name, ortho, dsm, stac, gsd = _register(
        sessions, tmp_path, ortho_path=pair.before_ortho, dsm_path=pair.before_dsm, flown_on=D1
    )
    assert name == "before_ortho-20240401"
    assert gsd == pytest.approx(0.25)
    # stored relative to data_dir, so a restore into another data_dir still finds them
    assert (ortho, dsm) == (f"flights/{name}/ortho.tif", f"flights/{name}/dsm.tif")
    for p in (tmp_path / ortho, tmp_path / dsm):
        info = rasters.inspect(p)
        assert info.is_cog
        with rasterio.open(p) as src:
            assert src.overviews(1), "COG without overviews"
    assert stac["type"] == "Feature" and stac["id"] == name
    assert stac["properties"]["proj:epsg"] == 4548
    assert stac["properties"]["datetime"].startswith("2024-04-01")
    assert set(stac["assets"]) == {"ortho", "dsm"}
    lon0, lat0, lon1, lat1 = stac["bbox"]
    assert 116.9 < lon0 < lon1 < 117.1 and 38.9 < lat0 < lat1 < 39.1
    with sessions() as s:
        area = s.scalar(
            select(func.ST_Area(func.Geography(Flight.footprint))).where(Flight.id == fid)
        )
    assert area == pytest.approx(150 * 150, rel=0.02)  # 600 px × 0.25 m square


def test_a_cog_input_is_referenced_in_place(sessions, tmp_path, pair):
    cog = rasters.to_cog(pair.after_ortho, tmp_path / "in" / "cog.tif")
    _, _, ortho, dsm, stac, _ = _register(sessions, tmp_path / "var", ortho_path=cog, flown_on=D2)
    assert ortho == str(cog.resolve()) and dsm is None and "dsm" not in stac["assets"]


def _no_georef(tmp_path, pair):
    p = tmp_path / "plain.tif"
    with rasterio.open(pair.before_ortho) as src:
        data = src.read()
    with rasterio.open(p, "w", driver="GTiff", width=600, height=600, count=3, dtype="uint8") as d:
        d.write(data)
    return {"ortho_path": p}


def _png(tmp_path, pair):
    p = tmp_path / "photo.png"
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(p)
    return {"ortho_path": p}


def _truncated(tmp_path, pair):
    p = tmp_path / "truncated.tif"
    data = pair.before_ortho.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return {"ortho_path": p}


def _garbage(tmp_path, pair):
    p = tmp_path / "garbage.tif"
    p.write_bytes(b"II*\x00" + b"\x17" * 5000)
    return {"ortho_path": p}


def _two_bands(tmp_path, pair):
    p = tmp_path / "two.tif"
    with rasterio.open(pair.before_ortho) as src:
        prof = {**src.profile, "count": 2}
        with rasterio.open(p, "w", **prof) as d:
            d.write(src.read([1, 2]))
    return {"ortho_path": p}


def _rgb_dsm(tmp_path, pair):
    return {"ortho_path": pair.before_ortho, "dsm_path": pair.after_ortho}


def _dsm_elsewhere(tmp_path, pair):
    far = synthetic_pair(
        tmp_path / "far", seed=3, size_px=(64, 64), origin=(510_000.0, 4_300_000.0)
    )
    return {"ortho_path": pair.before_ortho, "dsm_path": far.before_dsm}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_no_georef, "no georeference"),
        (_png, "no georeference"),
        (_truncated, "corrupt or truncated"),
        (_garbage, "not a readable raster"),
        (_two_bands, "needs 3 .RGB. or 4"),
        (_rgb_dsm, "DSM must have exactly one band"),
        (_dsm_elsewhere, "does not overlap"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(sessions, tmp_path, pair, make, message):
    kwargs = make(tmp_path, pair)
    data_dir = tmp_path / "var"
    with pytest.raises(ImageryError, match=message):
        _register(sessions, data_dir, flown_on=D1, **kwargs)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Flight)) == 0
    stored = list((data_dir / "flights").rglob("*")) if (data_dir / "flights").exists() else []
    assert [p for p in stored if p.is_file()] == []


def test_duplicate_name_listing_and_retiring(sessions, tmp_path, pair):
    _register(sessions, tmp_path, ortho_path=pair.before_ortho, flown_on=D1, name="f1")
    with pytest.raises(Conflict, match="already exists"):
        _register(sessions, tmp_path, ortho_path=pair.after_ortho, flown_on=D2, name="f1")
    _register(sessions, tmp_path, ortho_path=pair.after_ortho, flown_on=D2, name="f2")
    with transaction(sessions, "test") as s:
        assert [f.name for f in list_flights(s)] == ["f1", "f2"]
        retire_flight(s, "f1", actor="test", reason="重飞")
    with sessions() as s:
        assert [f.name for f in list_flights(s)] == ["f2"]
        assert len(list_flights(s, include_retired=True)) == 2
        with pytest.raises(NotFound):
            create_run(s, before="f1", after="f2")


def test_runs_refuse_flights_that_do_not_overlap_or_run_backwards(sessions, tmp_path, pair):
    far = synthetic_pair(
        tmp_path / "far", seed=4, size_px=(64, 64), origin=(510_000.0, 4_300_000.0)
    )
    _register(sessions, tmp_path, ortho_path=pair.before_ortho, flown_on=D1, name="here")
    _register(sessions, tmp_path, ortho_path=far.after_ortho, flown_on=D2, name="there")
    _register(sessions, tmp_path, ortho_path=pair.after_ortho, flown_on=D2, name="later")
    with sessions() as s:
        with pytest.raises(ImageryError, match="do not overlap"):
            create_run(s, before="here", after="there")
        with pytest.raises(ImageryError, match="swap them"):
            create_run(s, before="later", after="here")
        with pytest.raises(ImageryError, match="unknown detection parameters"):
            create_run(s, before="here", after="later", params={"speed": 3})
        with pytest.raises(ImageryError, match="min_height_m"):
            create_run(s, before="here", after="later", params={"min_height_m": "high"})
