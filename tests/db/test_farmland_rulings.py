"""Patch rulings, counts and areas by ruling, and the illegal share of farmland taken."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from api.farmland_out import PatchRulingOut, SummaryRow
from geo_enforce.errors import Conflict, InvalidInput, NotFound
from geo_enforce.farmland import rulings
from geo_enforce.farmland.verify import create_verification
from geo_enforce.storage.engine import transaction
from tests.support import farmland_seed as fs

GEOD = Geod(a=6378137.0, f=1 / 298.257222101)


def area(g) -> float:
    return 0.0 if g.is_empty else abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(g))[0])


CULTIVATED = shapely.union_all([g for g, cls, _ in fs.PARCELS.values() if cls < "0200"])


def farmland_of(code: str) -> float:
    return area(shapely.intersection(fs.PATCHES[code][0], CULTIVATED))


def test_summary_and_farmland_share(sessions):
    fs.seed(sessions)
    with sessions() as s:
        summary = {r.ruling: asdict(SummaryRow.of(r)) for r in rulings.ruling_summary(s)}
        yearly = {r.period: asdict(r) for r in rulings.farmland_share(s, period="year")}
        quarterly = [asdict(r) for r in rulings.farmland_share(s, period="quarter")]
        only_2025 = [
            asdict(r)
            for r in rulings.ruling_summary(s, since=dt.date(2025, 1, 1), until=dt.date(2026, 1, 1))
        ]
    assert {k: v["count"] for k, v in summary.items()} == {
        "legal": 1,
        "illegal": 2,
        "other": 1,
        "false_change": 1,
        "pending": 1,
    }
    illegal_area = area(fs.PATCHES["BH-2024-01"][0]) + area(fs.PATCHES["BH-2025-01"][0])
    assert summary["illegal"]["area_m2"] == pytest.approx(illegal_area, abs=0.02)
    assert summary["illegal"]["area_mu"] == pytest.approx(illegal_area * 3 / 2000, abs=1e-4)
    assert summary["illegal"]["label"] == "违法" and summary["pending"]["label"] == "未认定"
    assert sum(r["count"] for r in only_2025) == 4

    # 2024: the illegal triangle on P1 against the legal patch on P3
    ill24, leg24 = farmland_of("BH-2024-01"), farmland_of("BH-2024-02")
    y24 = yearly["2024"]
    assert y24["illegal_farmland_m2"] == pytest.approx(ill24, abs=0.01)
    assert y24["farmland_taken_m2"] == pytest.approx(ill24 + leg24, abs=0.01)
    assert y24["illegal_share_pct"] == pytest.approx(100 * ill24 / (ill24 + leg24), abs=0.01)
    # 2025: only the half of BH-2025-01 on P2 is cultivated land; the orchard half is not;
    # the false change and the unruled patch stay out of the share
    ill25 = farmland_of("BH-2025-01")
    assert ill25 == pytest.approx(area(fs.PATCHES["BH-2025-01"][0]) / 2, rel=0.01)
    taken25 = ill25 + farmland_of("BH-2025-03")
    y25 = yearly["2025"]
    assert y25["farmland_taken_m2"] == pytest.approx(taken25, abs=0.01)
    assert y25["illegal_share_pct"] == pytest.approx(100 * ill25 / taken25, abs=0.01)
    assert (y25["construction_patches"], y25["pending_patches"]) == (2, 1)
    assert [q["period"] for q in quarterly] == [
        "2024-Q2",
        "2024-Q3",
        "2025-Q1",
        "2025-Q2",
        "2025-Q3",
    ]
    assert quarterly[-1]["illegal_share_pct"] is None  # only an unruled patch


def test_rule_patch(sessions):
    ids = fs.seed(sessions, rulings=False)
    with transaction(sessions, "api:liaison1") as s:
        with pytest.raises(InvalidInput, match="approval number"):
            rulings.rule_patch(s, code="BH-2024-02", ruling="legal", actor="liaison1")
        with pytest.raises(InvalidInput, match="only recorded with a legal"):
            rulings.rule_patch(
                s, code="BH-2024-01", ruling="illegal", actor="liaison1", approval_no="X"
            )
        with pytest.raises(InvalidInput, match="unknown"):
            rulings.rule_patch(s, code="BH-2024-01", ruling="maybe", actor="liaison1")
        with pytest.raises(NotFound):
            rulings.rule_patch(s, code="BH-NOPE", ruling="illegal", actor="liaison1")
        v = create_verification(
            s,
            target_kind="change_patch",
            target_id=ids["BH-2024-01"],
            result="construction",
            actor="liaison1",
        )
        other = create_verification(
            s,
            target_kind="farmland_parcel",
            target_id=ids["P1"],
            result="farmland",
            actor="liaison1",
        )
        with pytest.raises(InvalidInput, match="not a check of change patch"):
            rulings.rule_patch(
                s,
                code="BH-2024-01",
                ruling="illegal",
                actor="liaison1",
                evidence_verification_ids=[other.id],
            )
        p = rulings.rule_patch(
            s,
            code="BH-2024-01",
            ruling="illegal",
            actor="liaison1",
            note="未批先建",
            evidence_verification_ids=[v.id],
        )
        assert (p.ruling, p.status, p.ruled_by) == ("illegal", "ruled", "liaison1")
        assert f"核实记录 {v.id}" in (p.ruling_note or "")
        legal = rulings.rule_patch(
            s,
            patch_id=ids["BH-2024-02"],
            ruling="legal",
            actor="liaison1",
            approval_no=" 津规自地〔2023〕12号 ",
        )
        assert legal.approval_no == "津规自地〔2023〕12号"
        d = PatchRulingOut.of(rulings.patch_ruling(s, p)).model_dump()
        assert d["ruling_label"] == "违法" and len(d["evidence"]["verifications"]) == 1
    # a correction is a new ruling; the audit log keeps the earlier one
    with transaction(sessions, "api:liaison2") as s:
        rulings.rule_patch(s, code="BH-2024-01", ruling="other", actor="liaison2")
    with sessions() as s:
        seen = (
            s.execute(
                text(
                    "SELECT new_row->>'ruling' FROM audit_log WHERE table_name = 'change_patch' "
                    "AND record_id = :id ORDER BY id"
                ),
                {"id": ids["BH-2024-01"]},
            )
            .scalars()
            .all()
        )
    assert seen == [None, "illegal", "other"]
    with transaction(sessions, "test") as s:
        s.execute(text("UPDATE change_patch SET status = 'closed' WHERE code = 'BH-2024-01'"))
    with pytest.raises(Conflict, match="closed"), transaction(sessions, "api:x") as s:
        rulings.rule_patch(s, code="BH-2024-01", ruling="illegal", actor="x")


def test_period_keys_and_bad_period(sessions):
    assert rulings.period_key(dt.date(2025, 11, 3), "month") == "2025-11"
    assert rulings.period_key(dt.date(2025, 11, 3), "quarter") == "2025-Q4"
    with sessions() as s, pytest.raises(InvalidInput, match="period"):
        rulings.farmland_share(s, period="week")
