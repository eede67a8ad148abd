"""A small ledger for the trust tests (roles, audit, public, locking, backup, faults).

Written through the ORM in audited transactions, so the audit log holds inserts, updates and a
retirement by named actors. Geometries are squares near 117.2°E 39.0°N (EPSG:4490).
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box

from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AdminArea, ClearedParcel, Structure

X0, Y0 = 117.20, 39.00
STATUSES = ("suspected", "verified", "notice_served", "demolished", "rectified", "legalized")


def square(i: int, size: float = 0.0003):
    x = X0 + (i % 20) * 0.0005
    y = Y0 + (i // 20) * 0.0005
    return from_shape(MultiPolygon([box(x, y, x + size, y + size)]), srid=4490)


def seed_ledger(factory, *, n: int = 12, actor: str = "cli:seed") -> dict[str, list[int]]:
    """Insert a village, ``n`` structures of every status with party data, two cleared
    parcels; edit the first structure and retire the last one (as ``api:editor1``)."""
    with transaction(factory, actor) as s:
        s.add(
            AdminArea(
                code="120111001001",
                name="大任庄村",
                level="village",
                geom=from_shape(
                    MultiPolygon([box(X0 - 0.01, Y0 - 0.01, X0 + 0.02, Y0 + 0.02)]), srid=4490
                ),
            )
        )
        structures = []
        for i in range(n):
            status = STATUSES[i % len(STATUSES)]
            st = Structure(
                case_no=f"XQ-2024-{i:04d}",
                village_code="120111001001",
                address=f"大任庄村东街{i + 1}号",
                category=("villa", "factory", "steel_shed", "wall")[i % 4],
                floors=1 + i % 3,
                status=status,
                discovered_on=dt.date(2024, 1 + i % 12, 1),
                notice_on=dt.date(2024, 3, 1) if status != "suspected" else None,
                demolished_on=dt.date(2024, 6, 1) if status == "demolished" else None,
                party_name=f"张{i}某",
                party_id_no=f"12011119800101{i:04d}",
                party_phone=f"1380000{i:04d}",
                notes="当事人住址详见案卷",
                geom=square(i),
            )
            s.add(st)
            structures.append(st)
        parcels = [
            ClearedParcel(parcel_no=f"QT-{j}", village_code="120111001001", geom=square(100 + j))
            for j in range(2)
        ]
        s.add_all(parcels)
        s.flush()
        ids = {"structure": [x.id for x in structures], "cleared_parcel": [p.id for p in parcels]}
    with transaction(factory, "api:editor1") as s:
        first = s.get(Structure, ids["structure"][0])
        assert first is not None
        first.floors = 3
        first.notes = "复核后层数更正"
        last = s.get(Structure, ids["structure"][-1])
        assert last is not None
        last.retired_at = dt.datetime.now(dt.UTC)
        last.retired_by = "api:editor1"
        last.retire_reason = "重复立案"
    return ids
