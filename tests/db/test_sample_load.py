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
