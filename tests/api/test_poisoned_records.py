"""No poisoned records (issue 13 items 2 and 8).

Implausible dates are refused at the API with a 422 naming the field; a photo whose camera
clock was reset is kept without a capture time; a record written with such a value anyway
(plain SQL, bypassing the library) never breaks a read: the lists, the photo layer, the parcel
report and sheet and the CLI render it and log it. Verifications and photos can be retired
over HTTP and on the command line (admins; audited). Vertex and pixel caps hold over HTTP.
"""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api import create_app
from geo_enforce.settings import LimitSettings
from tests.conftest import bearer_headers
from tests.support import farmland_seed as fs
from tests.support import hostile

YEAR_ONE = "0001-01-01T00:00:00+08:00"


@pytest.fixture
def roles(sessions):
    fs.seed(sessions, rulings=False)
    names = ("viewer", "liaison", "editor", "admin")
    headers = bearer_headers(sessions, *[(f"p_{r}", r) for r in names], actor="seed")
    return dict(zip(names, headers, strict=True))


def _verification(client, roles) -> int:
    body = {"patch_code": "P1", "result": "construction", "notes": "彩钢房"}
    r = client.post("/verifications", json=body, headers=roles["liaison"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _photo(client, roles, vid: int, taken: str = "2025:06:01 10:20:30") -> dict:
    from tests.db.test_farmland_photos import make_jpeg

    jpeg = make_jpeg(fs.X0 + 0.001, fs.Y0 + 0.001, heading=30.0, taken=taken)
    r = client.post(
        f"/verifications/{vid}/photos",
        files={"file": ("a.jpg", jpeg, "image/jpeg")},
        headers=roles["liaison"],
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_implausible_dates_are_refused_naming_the_field(client, roles):
    body = {"patch_code": "P1", "result": "construction", "verified_at": YEAR_ONE}
    r = client.post("/verifications", json=body, headers=roles["liaison"])
    assert r.status_code == 422, r.text
    assert "verified_at" in r.json()["error"]["message"]
    square = [[117.2001, 39.0001], [117.2003, 39.0001], [117.2003, 39.0003], [117.2001, 39.0001]]
    case = {
        "case_no": "D-1",
        "category": "other",
        "discovered_on": "0001-01-01",
        "geometry": {"type": "Polygon", "coordinates": [square]},
    }
    r = client.post("/structures", json=case, headers=roles["editor"])
    assert r.status_code == 422 and "discovered_on" in r.json()["error"]["message"], r.text
    # a photo whose camera clock was reset is kept, without a capture time, with a warning
    vid = _verification(client, roles)
    up = _photo(client, roles, vid, taken="0001:01:01 00:00:00")
    assert up["photo"]["taken_at"] is None
    assert any("0001-01-01" in w for w in up["warnings"])


def test_poisoned_rows_never_break_a_read(client, roles, sessions, caplog, monkeypatch, db_url):
    vid = _verification(client, roles)
    pid = _photo(client, roles, vid)["photo"]["id"]
    with sessions.begin() as s:  # around the library, as a clumsy script would
        s.execute(
            text("UPDATE verification SET verified_at = :t WHERE id = :i"),
            {"t": YEAR_ONE, "i": vid},
        )
        s.execute(
            text("UPDATE verification_photo SET taken_at = :t WHERE id = :i"),
            {"t": "0001-01-01T00:00:00-08:00", "i": pid},
        )
    viewer = roles["viewer"]
    with caplog.at_level(logging.WARNING, logger="geo_enforce.storage"):
        r = client.get("/verifications", headers=viewer)
        assert r.status_code == 200 and [v["id"] for v in r.json()] == [vid]
        assert client.get(f"/verifications/{vid}", headers=viewer).status_code == 200
        pts = client.get("/verifications/photo-points", headers=viewer)
        assert pts.status_code == 200 and len(pts.json()["features"]) == 1
        assert client.get("/parcels/P1/report", headers=viewer).status_code == 200
        r = client.get("/parcels/P1/sheet", params={"format": "pdf"}, headers=viewer)
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert "cannot be represented" in caplog.text  # logged, not hidden

    with hostile.cli(monkeypatch, db_url) as run:
        r = run("farmland", "report", "P1", "--json")
    assert r.exit_code == 0, r.output
    assert [v["id"] for v in json.loads(r.stdout)["verifications"]] == [vid]


def test_retire_verifications_and_photos(client, roles, sessions, monkeypatch, db_url):
    vid = _verification(client, roles)
    pid = _photo(client, roles, vid)["photo"]["id"]
    body = {"reason": "核实时间录错", "version": 1}
    for role in ("viewer", "liaison", "editor"):
        r = client.post(f"/verifications/{vid}/retire", json=body, headers=roles[role])
        assert r.status_code == 403, role
    r = client.post(f"/verifications/{vid}/photos/{pid}/retire", json=body, headers=roles["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["retired_by"] == "api:p_admin"
    assert (
        client.get("/verifications/photo-points", headers=roles["viewer"]).json()["features"] == []
    )
    r = client.post(
        f"/verifications/{vid}/retire", json={**body, "version": 9}, headers=roles["admin"]
    )
    assert r.status_code == 409  # stale version
    r = client.post(
        f"/verifications/{vid}/retire", json={"reason": "重复录入"}, headers=roles["admin"]
    )
    assert r.status_code == 428  # retire needs the version read
    tag = client.get(f"/verifications/{vid}", headers=roles["viewer"]).headers["ETag"]
    r = client.post(
        f"/verifications/{vid}/retire",
        json={"reason": "重复录入"},
        headers={**roles["admin"], "If-Match": tag},
    )
    assert r.status_code == 200, r.text
    assert client.get("/verifications", headers=roles["viewer"]).json() == []
    assert client.get(f"/verifications/{vid}", headers=roles["viewer"]).status_code == 404
    with sessions() as s:
        audit = s.execute(
            text("SELECT table_name, actor FROM audit_log WHERE action = 'retire' ORDER BY id")
        ).all()
    assert [tuple(a) for a in audit] == [
        ("verification_photo", "api:p_admin"),
        ("verification", "api:p_admin"),
    ]

    # and on the command line
    vid2 = _verification(client, roles)
    pid2 = _photo(client, roles, vid2)["photo"]["id"]
    with hostile.cli(monkeypatch, db_url, GEO_ENFORCE_ACTOR="cli:chief") as run:
        r = run("farmland", "retire", vid2, "--photo", pid2, "-r", "模糊")
        assert r.exit_code == 0 and "retired" in r.stdout, r.output
        r = run("farmland", "retire", vid2, "--reason", "重复")
        assert r.exit_code == 0, r.output
        r = run("farmland", "retire", vid2, "--reason", "重复")
        assert r.exit_code != 0 and "retired" in str(r.exception)
    with sessions() as s:
        n = s.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'retire' AND actor = 'cli:chief'")
        ).scalar_one()
    assert n == 2


def test_vertex_and_pixel_caps_over_http(settings, roles, tmp_path):
    limited = settings.model_copy(
        update={"limits": LimitSettings(max_vertices=50, max_upload_pixels=1_000_000)}
    )
    ring = [list(c) for c in hostile.ring(80).exterior.coords]
    case = {
        "case_no": "V-1",
        "category": "other",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    sparse = hostile.sparse_geotiff(tmp_path / "sparse.tif")
    with TestClient(create_app(limited)) as c:
        r = c.post("/structures", json=case, headers=roles["editor"])
        assert r.status_code == 413, r.text
        assert "geometry: the geometry has 81 vertices" in r.json()["error"]["message"]
        vid = _verification(c, roles)
        footprint = {"footprint": case["geometry"], "category": "steel_shed"}
        r = c.post(f"/verifications/{vid}/structure-case", json=footprint, headers=roles["editor"])
        assert r.status_code == 413 and "polygon: the geometry has 81" in r.text, r.text
        files = {"ortho": ("sparse.tif", sparse.read_bytes(), "image/tiff")}
        r = c.post(
            "/flights",
            headers=roles["admin"],
            files=files,
            data={"flown_on": "2024-05-01", "name": "sparse"},
        )
        assert r.status_code == 413, r.text
        # the uploaded file's name, never the server's temporary path
        assert "orthophoto 'sparse.tif' is 10000 × 10000" in r.json()["error"]["message"]
        assert str(tmp_path) not in r.text
