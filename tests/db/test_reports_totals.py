"""Area totals from the database equal totals computed independently (pyproj + shapely)."""

from __future__ import annotations

import datetime as dt

import pytest

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.reports.query import AreaQuery, area_totals
from tests.support import reports_ledger as L


@pytest.fixture(scope="module")
def ledger(module_sessions):
    records = L.build_records()
    L.load(module_sessions, records)
    return module_sessions, records


def _month(field):
    return lambda r: (f"{r[field].year:04d}-{r[field].month:02d}" if r[field] else None,)


# (name, AreaQuery kwargs, where, key) — structures
STRUCTURE_CASES = [
    ("all by village", {"group_by": ("village",)}, lambda r: True, lambda r: (r["village_code"],)),
    (
        "2024 demolished by village, category",
        {"year": 2024, "status": ("demolished",), "group_by": ("village", "category")},
        lambda r: r["status"] == "demolished" and L.in_year("demolished_on", 2024)(r),
        lambda r: (r["village_code"], r["category"]),
    ),
    (
        "discovered by year, month",
        {"date_by": "discovered", "group_by": ("year", "month")},
        lambda r: r["discovered_on"] is not None,
        lambda r: (r["discovered_on"].year, *_month("discovered_on")(r)),
    ),
    (
        "villas by village (households)",
        {"category": ("villa",), "group_by": ("village",)},
        lambda r: r["category"] == "villa",
        lambda r: (r["village_code"],),
    ),
    (
        "grid zone by category (point on surface)",
        {"admin_code": L.G1, "group_by": ("category",)},
        L.point_in(L.GRID_BOX),
        lambda r: (r["category"],),
    ),
    (
        "town by status",
        {"admin_code": L.TOWN, "group_by": ("status",)},
        L.point_in(L.TOWN_BOX),
        lambda r: (r["status"],),
    ),
    (
        "village V1 in a date range",
        {"admin_code": L.V1, "date_from": dt.date(2024, 3, 1), "date_to": dt.date(2024, 8, 20)},
        lambda r: (
            r["village_code"] == L.V1
            and r["demolished_on"] is not None
            and dt.date(2024, 3, 1) <= r["demolished_on"] <= dt.date(2024, 8, 20)
        ),
        lambda r: (),
    ),
    (
        "on permanent basic farmland by village",
        {"red_line_kind": "basic_farmland", "group_by": ("village",)},
        L.on_farmland,
        lambda r: (r["village_code"],),
    ),
    (
        "statuses demolished+rectified by category, month",
        {
            "status": ("demolished", "rectified"),
            "date_by": "discovered",
            "group_by": ("category", "month"),
        },
        lambda r: r["status"] in ("demolished", "rectified") and r["discovered_on"] is not None,
        lambda r: (r["category"], *_month("discovered_on")(r)),
    ),
]


def _check(rep, expected, *, dissolved=True):
    got = {tuple(g.key.values()): g for g in rep.groups}
    exp = {k: v for k, v in expected.items() if k != ("__total__",)}
    assert set(got) == set(exp)
    for k, e in [*exp.items(), (("__total__",), expected[("__total__",)])]:
        g = rep.total if k == ("__total__",) else got[k]
        assert g.count == e["count"], k
        assert g.area_m2 == pytest.approx(e["area_m2"], abs=1e-3), k
        assert g.households == e["households"], k
        if dissolved:
            assert g.dissolved_m2 == pytest.approx(e["dissolved_m2"], abs=1e-3), k
        # the rendered figures (2 decimals) equal the independent ones rounded the same way
        d = g.as_dict()
        assert d["area_m2"] == pytest.approx(e["area_m2"], abs=0.0051)
        assert d["area_mu"] == pytest.approx(e["area_m2"] * 3 / 2000, abs=0.0051)


@pytest.mark.parametrize(("name", "kw", "where", "key"), STRUCTURE_CASES, ids=lambda x: x)
def test_structure_totals_equal_independent(ledger, name, kw, where, key):
    factory, records = ledger
    if "date_by" not in kw and ("year" in kw or "date_from" in kw):
        kw = {**kw, "date_by": "demolished"}
    with factory() as s:
        rep = area_totals(s, AreaQuery(layer="structure", **kw))
    _check(rep, L.expected_totals(records["structure"], where, key))


def test_overlaps_make_dissolved_smaller(ledger):
    factory, _ = ledger
    with factory() as s:
        rep = area_totals(
            s, AreaQuery(year=2024, status=("demolished",), category=("villa",), admin_code=L.V1)
        )
    assert rep.total.count >= 3
    assert rep.total.dissolved_m2 is not None
    assert rep.total.dissolved_m2 < rep.total.area_m2 - 300  # the duplicate alone is 600 m²
    assert rep.total.differs and rep.notes


def test_clipped_to_basic_farmland(ledger):
    """Only the part of each record inside permanent basic farmland is measured."""
    factory, records = ledger
    with factory() as s:
        rep = area_totals(
            s,
            AreaQuery(red_line_kind="basic_farmland", red_line_clip=True, group_by=("village",)),
        )
    clipped = [
        {**r, "geom": r["geom"].intersection(L.FARMLAND_BOX)}
        for r in records["structure"]
        if L.on_farmland(r)
    ]
    exp = L.expected_totals(clipped, lambda r: True, lambda r: (r["village_code"],))
    _check(rep, exp)
    whole = L.expected_totals(records["structure"], L.on_farmland, lambda r: ())
    assert rep.total.area_m2 < whole[("__total__",)]["area_m2"]  # some records straddle it


def test_floor_area_measure(ledger):
    factory, records = ledger
    with factory() as s:
        rep = area_totals(s, AreaQuery(measure="floor", group_by=("status",)))
    exp = L.expected_totals(
        records["structure"], lambda r: True, lambda r: (r["status"],), measure="floor"
    )
    _check(rep, exp, dissolved=False)
    assert rep.total.dissolved_m2 is None


def test_cleared_parcels_by_village_and_year(ledger):
    factory, records = ledger
    with factory() as s:
        rep = area_totals(s, AreaQuery(layer="cleared_parcel", group_by=("year", "village")))
        rep24 = area_totals(s, AreaQuery(layer="cleared_parcel", year=2024))
    _check(
        rep,
        L.expected_totals(
            records["cleared_parcel"], lambda r: True,
            lambda r: (r["cleared_on"].year, r["village_code"]),
        ),
    )  # fmt: skip
    _check(
        rep24,
        L.expected_totals(records["cleared_parcel"], L.in_year("cleared_on", 2024), lambda r: ()),
    )
    assert rep24.total.differs  # the overlapping pair


def test_change_patches_by_ruling(ledger):
    factory, records = ledger
    with factory() as s:
        rep = area_totals(s, AreaQuery(layer="change_patch", year=2024, group_by=("ruling",)))
        illegal = area_totals(s, AreaQuery(layer="change_patch", ruling=("illegal",)))
    _check(
        rep, L.expected_totals(records["change_patch"], lambda r: True, lambda r: (r["ruling"],))
    )
    assert {g.labels["ruling"] for g in rep.groups} >= {"违法", "合法", "伪变化"}
    assert illegal.total.count == sum(r["ruling"] == "illegal" for r in records["change_patch"])


def test_new_building_patches_by_kind(ledger):
    factory, records = ledger
    with factory() as s:
        rep = area_totals(
            s, AreaQuery(layer="change_patch", change_kind=("new",), group_by=("village",))
        )
        kinds = area_totals(s, AreaQuery(layer="change_patch", group_by=("change_kind",)))
    _check(
        rep,
        L.expected_totals(
            records["change_patch"], lambda r: r["change_kind"] == "new",
            lambda r: (r["village_code"],),
        ),
    )  # fmt: skip
    assert {g.labels["change_kind"] for g in kinds.groups} == {"新增建设", "已拆除未拆"}


def test_labels_are_chinese(ledger):
    factory, _ = ledger
    with factory() as s:
        rep = area_totals(s, AreaQuery(group_by=("village", "category")))
    labels = {(g.labels["village"], g.labels["category"]) for g in rep.groups}
    assert ("大任庄村", "违建别墅") in labels
    assert any(v == "未划定村" for v, _ in labels)


def test_empty_selection_gives_zero_total(ledger):
    factory, _ = ledger
    with factory() as s:
        rep = area_totals(s, AreaQuery(year=1990, group_by=("village",)))
    assert rep.groups == []
    assert rep.total.count == 0 and rep.total.area_m2 == 0.0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"group_by": ("ruling",)}, "group_by 'ruling'"),
        ({"status": ("gone",)}, "status gone"),
        ({"measure": "volume"}, "measure 'volume'"),
        ({"layer": "cleared_parcel", "measure": "floor"}, "structures only"),
        ({"date_by": "cleared"}, "date_by 'cleared'"),
        ({"red_line_kind": "sea"}, "red_line_kind 'sea'"),
        ({"date_from": dt.date(2024, 2, 1), "date_to": dt.date(2024, 1, 1)}, "after date_to"),
        ({"layer": "farmland"}, "layer 'farmland'"),
        ({"red_line_clip": True}, "needs red_line_kind"),
        ({"layer": "change_patch", "change_kind": ("moved",)}, "change_kind moved"),
    ],
)
def test_invalid_queries_name_the_field(ledger, kw, message):
    factory, _ = ledger
    with factory() as s, pytest.raises(InvalidInput, match=message):
        area_totals(s, AreaQuery(**kw))


def test_unknown_admin_area(ledger):
    factory, _ = ledger
    with factory() as s, pytest.raises(NotFound, match="XX9"):
        area_totals(s, AreaQuery(admin_code="XX9"))
