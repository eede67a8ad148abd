"""The sample township is deterministic, complete and matches the committed GeoPackage."""

from __future__ import annotations

import geopandas as gpd
import pytest

from geo_enforce.demo.sample import LAYER_ORDER, SAMPLE_GPKG, build_township
from geo_enforce.ledger.vocab import RED_LINE_KINDS, STRUCTURE_CATEGORIES, STRUCTURE_STATUSES


@pytest.fixture(scope="module")
def township():
    return build_township()


def test_deterministic_and_seeded(township):
    again = build_township()
    other = build_township(seed=7)
    for name in LAYER_ORDER:
        assert township[name].geometry.geom_equals_exact(again[name].geometry, 0).all()
    assert not township["structure"].geometry.geom_equals(other["structure"].geometry).all()


def test_shape_of_the_township(township):
    admin = township["admin_area"]
    assert (admin.level == "village").sum() == 15
    assert (admin.level == "community").sum() == 6
    assert (admin.level == "grid").sum() == 2
    assert set(township["red_line"].kind) == set(RED_LINE_KINDS)
    st = township["structure"]
    assert 300 <= len(st) <= 600
    assert set(st.category) == set(STRUCTURE_CATEGORIES)
    assert set(st.status) == set(STRUCTURE_STATUSES)
    assert {d.year for d in st.discovered_on} == {2020, 2021, 2022, 2023, 2024}
    assert st.case_no.is_unique
    assert township["farmland_parcel"].is_permanent_basic.any()
    assert len(township["cleared_parcel"]) >= 20
    for name in LAYER_ORDER:
        gdf = township[name]
        assert gdf.crs.to_epsg() == 4490
        assert gdf.geometry.is_valid.all()
        minx, miny, maxx, maxy = gdf.total_bounds
        assert 117.1 < minx < maxx < 117.3 and 38.9 < miny < maxy < 39.1


def test_every_structure_lies_in_its_village(township):
    admin = township["admin_area"].set_index("code")
    st = township["structure"]
    for code, geom in zip(st.village_code, st.geometry, strict=True):
        assert admin.loc[code, "geometry"].buffer(1e-7).contains(geom)


def test_some_structures_overlap_so_dissolved_differs(township):
    st = township["structure"]
    gk = st.to_crs(4548)
    assert gk.union_all().area < gk.area.sum() - 1.0


def test_committed_geopackage_is_the_generator_output(township):
    for name in LAYER_ORDER:
        stored = gpd.read_file(SAMPLE_GPKG, layer=name)
        assert len(stored) == len(township[name])
        assert stored.geometry.geom_equals_exact(township[name].geometry, 1e-9).all()


# --- the second township: a subdistrict (街道) like Binhai's ----------------------------------


@pytest.fixture(scope="module")
def subdistrict():
    from geo_enforce.demo.sample import build_subdistrict

    return build_subdistrict()


def test_subdistrict_is_shaped_like_a_binhai_street_next_to_the_town(township, subdistrict):
    from geo_enforce.demo.sample import SUBDISTRICT_CODE, TOWN_CODE

    admin = subdistrict["admin_area"]
    assert list(admin.code[admin.level == "town"]) == [SUBDISTRICT_CODE]
    assert (admin.level == "community").sum() == 11 and (admin.level == "village").sum() == 2
    assert set(admin.parent_code[admin.level != "town"]) == {SUBDISTRICT_CODE}
    town = township["admin_area"].set_index("code").loc[TOWN_CODE, "geometry"]
    street = admin.set_index("code").loc[SUBDISTRICT_CODE, "geometry"]
    gk_town, gk_street = (gpd.GeoSeries([g], crs=4490).to_crs(4548)[0] for g in (town, street))
    assert gk_town.intersection(gk_street).area < 5.0  # m²: neighbours, no shared ground
    assert gk_town.distance(gk_street) < 1.0 and gk_street.centroid.x > gk_town.centroid.x
    st = subdistrict["structure"]
    assert st.case_no.str.startswith("BH-").all() and st.case_no.is_unique
    assert not set(st.case_no) & set(township["structure"].case_no)
    units = admin.set_index("code")
    for code, geom in zip(st.village_code, st.geometry, strict=True):
        assert units.loc[code, "geometry"].buffer(1e-7).contains(geom)
    # 天润小区5处占压燃气小院: five courtyards within 5 m of the gas main
    gas = subdistrict["pipeline"].to_crs(4548).geometry[0]
    near = st[st.category == "courtyard"].to_crs(4548).distance(gas) <= 5.0
    assert near.sum() >= 5
    for name in LAYER_ORDER:
        assert subdistrict[name].geometry.is_valid.all()


def test_subdistrict_is_deterministic_and_the_town_unchanged(township, subdistrict):
    from geo_enforce.demo.sample import SUBDISTRICT_GPKG, build_subdistrict

    again = build_subdistrict()
    for name in LAYER_ORDER:
        assert subdistrict[name].geometry.geom_equals_exact(again[name].geometry, 0).all()
        stored = gpd.read_file(SUBDISTRICT_GPKG, layer=name)
        assert len(stored) == len(subdistrict[name])
        assert stored.geometry.geom_equals_exact(subdistrict[name].geometry, 1e-9).all()
    # building the subdistrict draws nothing from the town's stream
    assert (
        township["structure"]
        .geometry.geom_equals_exact(build_township()["structure"].geometry, 0)
        .all()
    )
