"""Loading the sample township through the importer: counts, official areas, idempotence."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from geo_enforce.demo.sample import build_township, load_township
from geo_enforce.geometry.areas import ellipsoidal_area_m2
from geo_enforce.storage.models import AuditLog, Structure


def test_load_twice_is_idempotent_and_areas_are_official(sessions):
    counts = load_township(sessions, actor="demo")
    layers = build_township()
    assert counts == {k: len(v) for k, v in layers.items()}
    with sessions() as s:
        n_audit = s.scalar(select(func.count()).select_from(AuditLog))
        assert n_audit == sum(counts.values()) + 1  # and the township's base date
        assert s.scalar(select(func.count()).select_from(Structure)) == counts["structure"]
        stored = dict(s.execute(text("SELECT case_no, area_m2 FROM structure")).all())
    expected = {
        c: ellipsoidal_area_m2(g)
        for c, g in zip(layers["structure"].case_no, layers["structure"].geometry, strict=True)
    }
    for case_no, area in expected.items():
        # PostGIS and pyproj agree to a few 1e-6 m² absolute (round-off in geodesic sums)
        assert stored[case_no] == pytest.approx(area, rel=1e-9, abs=1e-4)
    load_township(sessions, actor="demo")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == n_audit


def test_the_samples_two_townships_keep_to_themselves(sessions, engine):
    """The town and the subdistrict: every record finds its township, each bureau's scope sees
    its own records, the two townships' totals add up to the district's, and loading again
    changes nothing."""
    from geo_enforce.demo.campaigns import demo_campaigns
    from geo_enforce.demo.sample import (
        SUBDISTRICT_CODE,
        TOWN_CODE,
        build_subdistrict,
        load_sample,
    )
    from geo_enforce.reports.annual import build_annual
    from geo_enforce.reports.query import AreaQuery, area_totals
    from geo_enforce.storage.scope import scoped_sessionmaker

    counts = load_sample(sessions, actor="demo")
    sub = build_subdistrict()
    assert counts[SUBDISTRICT_CODE] == {k: len(v) for k, v in sub.items()}
    with sessions() as s:
        by_township = dict(
            s.execute(text("SELECT township_code, count(*) FROM structure GROUP BY 1")).all()
        )
        assert by_township == {
            TOWN_CODE: counts[TOWN_CODE]["structure"],
            SUBDISTRICT_CODE: counts[SUBDISTRICT_CODE]["structure"],
        }
        for table in ("cleared_parcel", "farmland_parcel", "admin_area"):
            assert s.scalar(text(f"SELECT count(*) FROM {table} WHERE township_code IS NULL")) == 0
        q = AreaQuery(layer="structure", status=("demolished",))
        whole = area_totals(s, q).total
    parts = []
    for code in (TOWN_CODE, SUBDISTRICT_CODE):
        with scoped_sessionmaker(engine, code)() as s:
            cases = s.scalars(select(Structure.case_no)).all()
            assert {c[:2] for c in cases} == ({"JX"} if code == TOWN_CODE else {"BH"})
            parts.append(area_totals(s, q).total)
            rep = build_annual(s, 2024)
            assert rep.town_name == ("津西示范镇" if code == TOWN_CODE else "滨海示范街道")
    assert sum(p.count for p in parts) == whole.count
    assert sum(p.area_m2 for p in parts) == pytest.approx(whole.area_m2, abs=1e-6)
    first = demo_campaigns(sessions)
    progress = {p.code: p for p in first["progress"]}
    assert progress["BH-ZYXY-2024"].tagged_count == 5  # 天润小区5处占压燃气小院
    with sessions() as s:
        n_audit = s.scalar(select(func.count()).select_from(AuditLog))
    load_sample(sessions, actor="demo")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == n_audit
