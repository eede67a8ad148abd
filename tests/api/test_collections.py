"""OGC API Features collections over real PostGIS: listing, bbox, paging, filters, roles."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import box, shape

from geo_enforce.access.auth import create_user, issue_token
from geo_enforce.geometry.areas import ellipsoidal_area_m2
from geo_enforce.ledger import edits as ledger
from geo_enforce.storage.engine import transaction

X0, Y0 = 117.20, 39.00


@pytest.fixture
def seeded(sessions):
    """12 structures on a 4 × 3 grid, 0.002° apart; every third demolished; one retired."""
    with transaction(sessions, "seed") as s:
        for i in range(12):
            x, y = X0 + (i % 4) * 0.002, Y0 + (i // 4) * 0.002
            st = ledger.create_structure(
                s,
                case_no=f"JX-2023-{i:04d}",
                geometry=box(x, y, x + 0.0005, y + 0.0004),
                category="steel_shed",
                village_code="V1" if i < 6 else "V2",
                discovered_on=dt.date(2023, 1, 1),
                party_name=f"某{i}",
            )
            if i % 3 == 0:
                st.status = "demolished"
        ledger.retire(s, "structure", st.id, actor="seed", reason="duplicate")
        create_user(s, "v", "viewer")
        create_user(s, "e", "editor")
        v, _ = issue_token(s, "v")
        e, _ = issue_token(s, "e")
    return {"Authorization": f"Bearer {v}"}, {"Authorization": f"Bearer {e}"}


def test_requires_token(client):
    r = client.get("/collections")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "AuthenticationFailed"


def test_collections_and_items(client, seeded):
    viewer, editor = seeded
    cols = client.get("/collections", headers=viewer).json()["collections"]
    ids = {c["id"] for c in cols}
    assert {"structure", "red_line", "cleared_parcel", "farmland_parcel", "admin_area"} <= ids
    st = next(c for c in cols if c["id"] == "structure")
    assert st["title"] == "违法建设"
    minx, miny, maxx, maxy = st["extent"]["spatial"]["bbox"][0]
    assert minx == pytest.approx(X0) and maxx == pytest.approx(X0 + 0.0065)
    assert miny == pytest.approx(Y0) and maxy == pytest.approx(Y0 + 0.0044)

    r = client.get("/collections/structure/items", params={"limit": 5}, headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["numberMatched"] == 11 and body["numberReturned"] == 5  # retired not listed
    assert any(link["rel"] == "next" for link in body["links"])
    f = body["features"][0]
    assert f["properties"]["area_m2"] == pytest.approx(
        ellipsoidal_area_m2(shape(f["geometry"])), rel=1e-6
    )
    assert "party_name" not in f["properties"]
    f_ed = client.get("/collections/structure/items", params={"limit": 1}, headers=editor).json()
    assert f_ed["features"][0]["properties"]["party_name"] == "某0"

    page3 = client.get(
        "/collections/structure/items", params={"limit": 5, "offset": 10}, headers=viewer
    ).json()
    assert page3["numberReturned"] == 1
    r_one = client.get(f"/collections/structure/items/{f['id']}", headers=viewer)
    one = r_one.json()
    assert one["properties"]["case_no"] == f["properties"]["case_no"]
    # the same version the ledger's own route sends: a client may edit with it (If-Match)
    st = client.get(f"/structures/{f['id']}", headers=editor)
    assert r_one.headers["ETag"] == st.headers["ETag"]


def test_item_and_its_etag_come_from_one_query(client, seeded, sessions):
    """The item's version (its ETag) is read by the query that reads the feature."""
    from sqlalchemy import event, select

    from geo_enforce.ledger import features
    from geo_enforce.storage.models import Structure

    viewer, _ = seeded
    with sessions() as s:
        sid, version = s.execute(select(Structure.id, Structure.version).limit(1)).one()
        feat, got = features.item_with_version(s, "structure", sid)
    assert got == version and feat["id"] == sid
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        if "FROM structure" in statement:
            statements.append(statement)

    engine = client.app.state.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        r = client.get(f"/collections/structure/items/{sid}", headers=viewer)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert r.status_code == 200 and r.headers["ETag"] == f'"{version}"'
    assert len(statements) == 1, statements


def test_bbox_and_filters(client, seeded):
    viewer, _ = seeded
    # the first column of the grid only
    bbox = f"{X0 - 0.0001},{Y0 - 0.0001},{X0 + 0.0006},{Y0 + 0.01}"
    r = client.get("/collections/structure/items", params={"bbox": bbox}, headers=viewer).json()
    assert sorted(f["properties"]["case_no"] for f in r["features"]) == [
        "JX-2023-0000",
        "JX-2023-0004",
        "JX-2023-0008",
    ]
    r = client.get(
        "/collections/structure/items",
        params={"status": "demolished", "village_code": "V1"},
        headers=viewer,
    ).json()
    assert sorted(f["properties"]["case_no"] for f in r["features"]) == [
        "JX-2023-0000",
        "JX-2023-0003",
    ]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"bbox": "1,2,3"}, "four numbers"),
        ({"bbox": "a,b,c,d"}, "four numbers"),
        ({"bbox": "118,39,117,40"}, "lon/lat box"),
        ({"party_phone": "1"}, "unknown query parameter 'party_phone'"),
        ({"limit": "many"}, "limit"),
        ({"crs": "EPSG:3857"}, "is not offered"),
        ({"bbox-crs": "EPSG:4490", "bbox": "117,39,118,40,1"}, "four numbers"),
        ({"datetime": "2024-13-01"}, "RFC 3339"),
        ({"datetime": "2024-02-01/2023-01-01"}, "start is after the end"),
        ({"f": "html"}, "only GeoJSON"),
        ({"status": "x' OR '1'='1"}, None),
    ],
)
def test_bad_queries_are_clear_client_errors(client, seeded, params, fragment):
    viewer, _ = seeded
    r = client.get("/collections/structure/items", params=params, headers=viewer)
    if fragment is None:  # injection attempt is just a value that matches nothing
        assert r.status_code == 200 and r.json()["numberMatched"] == 0
    else:
        # OGC API Features: unknown parameters and malformed values are 400 Bad Request
        assert r.status_code == 400 and fragment in r.json()["error"]["message"]


def test_unknown_collection_and_item(client, seeded):
    viewer, _ = seeded
    assert client.get("/collections/nope/items", headers=viewer).status_code == 404
    assert client.get("/collections/structure/items/999999", headers=viewer).status_code == 404


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"].startswith("PostgreSQL 15")
    assert body["postgis"].startswith("3.")
    from alembic.script import ScriptDirectory

    from geo_enforce.storage.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    assert body["schema_heads"] == sorted(script.get_heads())


CRS_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"


def test_conformance_and_service_description_are_honest(client, seeded):
    viewer, _ = seeded
    classes = set(client.get("/conformance", headers=viewer).json()["conformsTo"])
    assert classes == {
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    }
    landing = client.get("/", headers=viewer).json()
    desc = next(link for link in landing["links"] if link["rel"] == "service-desc")
    openapi = client.get("/openapi.json").json()["openapi"]
    major_minor = ".".join(openapi.split(".")[:2])
    assert desc["type"].endswith(f"version={major_minor}")
    col = client.get("/collections/structure", headers=viewer).json()
    assert col["storageCrs"] == CRS_4490 and CRS_4490 in col["crs"]
    assert "http://www.opengis.net/def/crs/EPSG/0/4548" in col["crs"]
    assert col["extent"]["temporal"]["interval"] == [
        ["2023-01-01T00:00:00Z", "2023-01-01T23:59:59Z"]
    ]


def test_crs_axis_order_header_and_no_crs_member(client, seeded):
    viewer, _ = seeded
    url = "/collections/structure/items"
    lonlat = client.get(url, params={"limit": 1}, headers=viewer)
    assert lonlat.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    latlon = client.get(url, params={"limit": 1, "crs": CRS_4490}, headers=viewer)
    assert latlon.headers["content-crs"] == f"<{CRS_4490}>"
    g1 = lonlat.json()["features"][0]["geometry"]
    g2 = latlon.json()["features"][0]["geometry"]
    assert "crs" not in g1 and "crs" not in g2
    x, y = g1["coordinates"][0][0][0]
    assert g2["coordinates"][0][0][0] == [y, x]  # EPSG:4490 is latitude first
    # the same box in lat/lon order (bbox-crs EPSG:4490) selects the same features
    lonlat_box = f"{X0 - 0.0001},{Y0 - 0.0001},{X0 + 0.0006},{Y0 + 0.01}"
    latlon_box = f"{Y0 - 0.0001},{X0 - 0.0001},{Y0 + 0.01},{X0 + 0.0006}"
    a = client.get(url, params={"bbox": lonlat_box}, headers=viewer).json()
    b = client.get(url, params={"bbox": latlon_box, "bbox-crs": CRS_4490}, headers=viewer).json()
    assert a["numberMatched"] == b["numberMatched"] == 3
    # Gauss-Krüger zone 39 without prefix: northing (≈ 4.3e6) first, easting (≈ 5e5) second
    gk = client.get(url, params={"limit": 1, "crs": "EPSG:4548"}, headers=viewer).json()
    n, e = gk["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 4.2e6 < n < 4.4e6 and 4e5 < e < 6e5


def test_datetime_limit_cap_and_links(client, seeded, sessions):
    viewer, _ = seeded
    url = "/collections/structure/items"
    with transaction(sessions, "t") as s:
        st = ledger.create_structure(
            s,
            case_no="JX-2024-LATE",
            geometry=box(X0, Y0 + 0.01, X0 + 0.0005, Y0 + 0.0104),
            category="villa",
            discovered_on=dt.date(2024, 6, 1),
        )
        late_id = st.id
    for when, n in [
        ("2024-06-01", 1),
        ("2024-01-01/..", 1),
        ("../2023-12-31", 11),
        ("2022-01-01T00:00:00Z/2025-01-01T00:00:00Z", 12),
        ("2025-01-01/2026-01-01", 0),
    ]:
        r = client.get(url, params={"datetime": when}, headers=viewer)
        assert r.status_code == 200 and r.json()["numberMatched"] == n, when
    # collections without a main date are not filtered by datetime
    assert (
        client.get(
            "/collections/admin_area/items", params={"datetime": "2024-01-01"}, headers=viewer
        ).status_code
        == 200
    )
    capped = client.get(url, params={"limit": 10**9}, headers=viewer)
    assert capped.status_code == 200 and capped.json()["numberReturned"] == 12
    page = client.get(url, params={"limit": 5, "status": "suspected"}, headers=viewer).json()
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert "status=suspected" in nxt and "offset=5" in nxt and "limit=5" in nxt
    one = client.get(f"{url}/{late_id}", headers=viewer)
    rels = {link["rel"]: link["href"] for link in one.json()["links"]}
    assert rels["self"].endswith(f"/collections/structure/items/{late_id}")
    assert rels["collection"].endswith("/collections/structure")
    assert one.headers["content-crs"].startswith("<http://www.opengis.net/def/crs/OGC")
    assert client.get(f"{url}/abc", headers=viewer).status_code == 404
    assert client.get(f"{url}/{late_id}", params={"x": 1}, headers=viewer).status_code == 400


def test_labels_travel_with_codes(client, seeded, sessions):
    viewer, _ = seeded
    from geo_enforce.storage import models as m
    from tests.support.mapdata import mp

    with transaction(sessions, "t") as s:
        s.add(m.AdminArea(code="V1", name="东村", level="village", geom=mp(X0, Y0, X0 + 1, Y0 + 1)))
        s.add(
            m.ChangePatch(
                code="CP-1",
                village_code="V2",
                rule_hits=[{"code": "x", "label": "占用耕地", "area_m2": 12.5}, "basic_farmland"],
                suggested_ruling="illegal",
                geom=mp(X0, Y0, X0 + 0.001, Y0 + 0.001),
            )
        )
    props = client.get(
        "/collections/structure/items", params={"status": "demolished"}, headers=viewer
    ).json()["features"][0]["properties"]
    assert props["status_label"] == "已拆除" and props["category_label"] == "彩钢房"
    assert props["village_name"] == "东村"
    patch = client.get("/collections/change_patch/items", headers=viewer).json()["features"][0]
    p = patch["properties"]
    assert p["suggested_ruling_label"] == "违法" and p["ruling_label"] is None
    assert p["village_name"] is None  # V2 is not a stored village
    assert p["rule_hits_text"] == "占用耕地 12.5 m²；basic_farmland"
    admin = client.get("/collections/admin_area/items", headers=viewer).json()["features"][0]
    assert admin["properties"]["level_label"] == "行政村"


def test_datetime_on_a_validity_interval(client, seeded, sessions):
    """Red lines are filtered on their validity (valid_from..valid_to; an open end is unbounded)."""
    viewer, _ = seeded
    from geo_enforce.storage import models as m
    from tests.support.mapdata import mp

    spans = {
        "RL-A": (dt.date(2020, 1, 1), dt.date(2022, 12, 31)),
        "RL-B": (dt.date(2023, 6, 1), None),
        "RL-C": (None, dt.date(2021, 1, 1)),
    }
    with transaction(sessions, "t") as s:
        for code, (start, end) in spans.items():
            s.add(
                m.RedLine(
                    code=code,
                    kind="road",
                    valid_from=start,
                    valid_to=end,
                    geom=mp(X0, Y0, X0 + 0.001, Y0 + 0.001),
                )
            )

    def codes(when: str) -> list[str]:
        r = client.get("/collections/red_line/items", params={"datetime": when}, headers=viewer)
        assert r.status_code == 200, r.text
        return sorted(f["properties"]["code"] for f in r.json()["features"])

    assert codes("2022-06-01") == ["RL-A"]
    assert codes("2020-06-01") == ["RL-A", "RL-C"]
    assert codes("2030-01-01") == ["RL-B"]
    assert codes("2022-12-31/2023-06-01") == ["RL-A", "RL-B"]
    assert codes("../2019-01-01") == ["RL-C"]
