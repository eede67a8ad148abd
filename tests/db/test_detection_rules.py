"""Rules against stored layers and detection runs stored as change patches (PostGIS)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from PIL import Image
from shapely.geometry import LineString, MultiLineString, MultiPolygon, box
from sqlalchemy import func, select

from geo_enforce.demo.detection import run_demo_detection
from geo_enforce.detection import rules
from geo_enforce.detection.chips import chip_path
from geo_enforce.geometry.crs import transform_geometry
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import (
    ChangePatch,
    ClearedParcel,
    DetectionRun,
    FarmlandParcel,
    Pipeline,
    RedLine,
    Structure,
)

# a 420 m square in EPSG:4548 (CM 117°E) around a cleared parcel
CX, CY = 517_000.0, 4_317_000.0


def _g(geom):
    return from_shape(MultiPolygon([transform_geometry(geom, 4548, 4490)]), srid=4490)


def _seed(factory):
    with transaction(factory, "test") as s:
        s.add(
            ClearedParcel(
                parcel_no="TT-1",
                geom=_g(box(CX - 30, CY - 30, CX + 30, CY + 30)),
                cleared_on=dt.date(2023, 5, 1),
                restored_use="reclaimed",
            )
        )
        s.add(
            RedLine(
                code="JBNT-1",
                kind="basic_farmland",
                geom=_g(box(CX + 60, CY - 180, CX + 190, CY + 180)),
            )
        )
        s.add(
            RedLine(
                code="JS-1",
                kind="construction_land",
                geom=_g(box(CX - 200, CY + 60, CX - 40, CY + 190)),
            )
        )
        s.add(
            FarmlandParcel(
                patch_code="TB-1",
                land_class="0102",
                is_permanent_basic=True,
                geom=_g(box(CX + 60, CY - 180, CX + 120, CY - 60)),
            )
        )
        s.add(
            Structure(
                case_no="JX-1",
                category="steel_shed",
                status="demolished",
                demolished_on=dt.date(2023, 8, 1),
                geom=_g(box(CX - 150, CY - 150, CX - 136, CY - 140)),
            )
        )
        s.add(
            Structure(
                case_no="JX-2",
                category="courtyard",
                status="verified",
                geom=_g(box(CX - 150, CY + 100, CX - 135, CY + 112)),
            )
        )


def _gas_through_the_parcel(factory) -> None:
    """A gas line north-south through cleared parcel TT-1 with a 40 m safety distance: every
    change on the parcel lies within it."""
    line = transform_geometry(LineString([(CX, CY - 30), (CX, CY + 30)]), 4548, 4490)
    with transaction(factory, "test") as s:
        s.add(
            Pipeline(
                code="RQ-T1",
                kind="gas",
                name="试验燃气管",
                safety_distance_m=40.0,
                geom=from_shape(MultiLineString([line]), srid=4490),
            )
        )


def _at(x, y, w=10.0, h=8.0):
    return transform_geometry(box(x, y, x + w, y + h), 4548, 4490)


def test_rule_hits_of_single_regions(sessions):
    _seed(sessions)
    with sessions() as s:
        farm = rules.evaluate(s, _at(CX + 100, CY))
        assert farm.suggested_ruling == "illegal"
        codes = {h["code"]: h for h in farm.hits}
        assert set(codes) == {"outside_construction_land", "basic_farmland"}
        assert codes["basic_farmland"]["label"] == "占用永久基本农田"
        assert codes["basic_farmland"]["area_m2"] == pytest.approx(80.0, rel=0.01)

        half = rules.evaluate(s, _at(CX + 55, CY, w=10))  # half on the farmland red line
        assert {h["code"]: h["area_m2"] for h in half.hits}["basic_farmland"] == pytest.approx(
            40.0, rel=0.02
        )

        legal = rules.evaluate(s, _at(CX - 100, CY + 130))
        assert legal.hits == [] and legal.suggested_ruling == "legal"

        cleared = rules.evaluate(s, _at(CX, CY))
        assert "cleared_parcel_rebuilt" in {h["code"] for h in cleared.hits}

        grew = rules.evaluate(s, _at(CX - 135, CY + 100, w=6, h=12))  # touches JX-2's edge
        jx2 = s.scalar(select(Structure.id).where(Structure.case_no == "JX-2"))
        assert grew.structure_id == jx2 and grew.change_kind == "enlarged"
        hit = {h["code"]: h for h in grew.hits}["structure_enlarged"]
        assert hit["case_no"] == "JX-2" and hit["area_m2"] == pytest.approx(72.0, rel=0.02)

        rebuilt = rules.evaluate(s, _at(CX - 150, CY - 150, w=14, h=10))
        assert rebuilt.change_kind == "rebuilt"
        assert "demolished_still_standing" in {h["code"] for h in rebuilt.hits}


@pytest.mark.slow
def test_detection_run_over_stored_layers_stores_patches(sessions, tmp_path):
    _seed(sessions)
    _gas_through_the_parcel(sessions)
    summary = run_demo_detection(sessions, tmp_path, seed=5)
    assert summary["complete"] and summary["patches"] >= len(summary["planted"])
    with sessions() as s:
        run = s.get(DetectionRun, summary["run_id"])
        assert run.status == "done" and run.progress == 1.0 and run.finished_at
        patches = list(s.scalars(select(ChangePatch).where(ChangePatch.run_id == run.id)))
        by_case: dict[str, Any] = {}
        for p in patches:
            assert p.status == "new" and p.suggested_ruling in ("illegal", "legal", "other")
            assert p.area_m2 > 10 and p.code.startswith("BH20240920-R")
            for which in (p.chip_before, p.chip_after):
                with Image.open(chip_path(tmp_path, which)) as im:
                    assert im.format == "PNG" and max(im.size) == 384
            for h in p.rule_hits:
                assert set(h) >= {"code", "label", "area_m2"}
                by_case.setdefault(h["code"], []).append(p)
        for planted in summary["planted"]:
            assert planted["rule"] in by_case, f"missed {planted}"
        standing = by_case["demolished_still_standing"][0]
        jx1 = s.scalar(select(Structure.id).where(Structure.case_no == "JX-1"))
        assert standing.change_kind == "still_standing" and standing.structure_id == jx1
        enlarged = by_case["structure_enlarged"][0]
        assert enlarged.structure_id is not None and enlarged.height_gain_mean_m > 2.2
        # the change on the cleared parcel is within the gas line's 40 m: its 占压 hit is stored
        # with the distance, and counted in the run's summary
        rebuilt = by_case["cleared_parcel_rebuilt"][0]
        gas = {h["code"]: h for h in rebuilt.rule_hits}["encroach_gas"]
        assert gas["label"] == "占压燃气管线" and gas["line_code"] == "RQ-T1"
        assert 0 <= gas["distance_m"] <= gas["safety_distance_m"] == 40.0
        assert 0 < gas["area_m2"] <= rebuilt.area_m2 + 0.01
        assert summary["rule_hits"]["encroach_gas"] == len(by_case["encroach_gas"])
    # a second call resumes nothing: the finished run is returned as is
    from geo_enforce.detection.service import execute_run

    again = execute_run(sessions, summary["run_id"], data_dir=tmp_path, actor="test")
    assert again["patches"] == summary["patches"]
    # the demo run a second time reads the same run: no duplicate patches
    again_demo = run_demo_detection(sessions, tmp_path, seed=5)
    assert again_demo["run_id"] == summary["run_id"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ChangePatch)) == summary["patches"]
        fb, fa = (
            s.get(DetectionRun, summary["run_id"]).before_flight_id,
            s.get(DetectionRun, summary["run_id"]).after_flight_id,
        )
    # and comparing the same flights again is refused, naming the earlier run
    from geo_enforce.detection.service import create_run
    from geo_enforce.errors import Conflict

    with (
        pytest.raises(Conflict, match=f"detection run {summary['run_id']}"),
        transaction(sessions, "test") as s,
    ):
        create_run(s, before=fb, after=fa)
