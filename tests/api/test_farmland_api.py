"""Farmland API: parcels, verifications with photo uploads, rulings; roles and bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import create_app
from geo_enforce.storage.models import Verification, VerificationPhoto
from tests.conftest import bearer_headers
from tests.db.test_farmland_photos import make_jpeg
from tests.support import farmland_seed as fs
from tests.support.geometries import bowtie


@pytest.fixture
def tokens(sessions):
    fs.seed(sessions, rulings=False)
    viewer, liaison = bearer_headers(sessions, ("v1", "viewer"), ("l1", "liaison"), actor="seed")
    return viewer, liaison


def _rows(sessions) -> tuple[int, int]:
    with sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Verification)),
            s.scalar(select(func.count()).select_from(VerificationPhoto)),
        )


def _files(settings) -> list:
    d = settings.data_dir / "photos"
    return sorted(d.iterdir()) if d.exists() else []


def test_parcels(client, tokens):
    viewer, liaison = tokens
    assert client.get("/parcels/P1").status_code == 401
    r = client.get("/parcels/at", params={"x": fs.X0 + 0.001, "y": fs.Y0 + 0.001}, headers=viewer)
    assert r.status_code == 200 and [p["patch_code"] for p in r.json()] == ["P1"]
    r = client.get("/parcels/P1/report", headers=viewer)
    assert r.status_code == 200
    assert r.json()["permanent_basic"]["share_pct"] == pytest.approx(100.0)
    poly = {
        "type": "Polygon",
        "coordinates": [
            [[117.2019, 39.0014], [117.2021, 39.0014], [117.2021, 39.0016], [117.2019, 39.0014]]
        ],
    }
    r = client.post("/parcels/search", json={"geometry": poly}, headers=viewer)
    assert r.status_code == 403
    r = client.post("/parcels/search", json={"geometry": poly}, headers=liaison)
    assert r.status_code == 200 and len(r.json()) >= 2
    r = client.post("/parcels/overlay", json={"geometry": poly}, headers=liaison)
    assert r.status_code == 200 and r.json()["target"]["kind"] == "polygon"

    # bad input: clear 4xx, named
    r = client.get("/parcels/at", params={"x": 117.6, "y": 39.4}, headers=viewer)
    assert r.status_code == 422 and "outside the township" in r.json()["error"]["message"]
    r = client.post("/parcels/overlay", json={"geometry": bowtie.wkt}, headers=liaison)
    assert r.status_code == 422 and "Self-intersection" in r.json()["error"]["message"]
    assert client.get("/parcels/NOPE/report", headers=viewer).status_code == 404

    r = client.get("/parcels/P1/sheet", params={"format": "pdf"}, headers=viewer)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf"
    r = client.post("/parcels/overlay/sheet", json={"geometry": poly}, headers=liaison)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    r = client.get("/parcels/P1/sheet", params={"format": "docx"}, headers=viewer)
    assert r.status_code == 200 and r.content.startswith(b"PK")


def test_verification_flow(client, tokens, sessions, settings):
    viewer, liaison = tokens
    body = {"patch_code": "P1", "result": "construction", "notes": "新建彩钢房"}
    assert client.post("/verifications", json=body, headers=viewer).status_code == 403
    r = client.post("/verifications", json=body, headers=liaison)
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    # one actor spelling: the record's verified_by is the audit trail's actor
    assert r.json()["verified_by"] == "api:l1" and r.json()["history"][0]["actor"] == "api:l1"

    jpg = make_jpeg(fs.X0 + 0.001, fs.Y0 + 0.001, heading=45.0)
    up = f"/verifications/{vid}/photos"
    files = {"file": ("IMG_1.jpg", jpg, "image/jpeg")}
    assert client.post(up, files=files, headers=viewer).status_code == 403
    r = client.post(up, files=files, headers=liaison)
    assert r.status_code == 201, r.text
    photo = r.json()["photo"]
    assert photo["heading_deg"] == 45.0 and photo["far"] is False
    got = client.get(photo["url"], headers=viewer)
    assert got.status_code == 200 and got.content == jpg

    far = make_jpeg(fs.X0 + 0.01, fs.Y0 + 0.001, heading=10.0)
    r = client.post(up, files={"file": ("far.jpg", far, "image/jpeg")}, headers=liaison)
    assert r.status_code == 201 and r.json()["photo"]["far"] is True
    assert any("超过" in w for w in r.json()["warnings"])

    before = (_rows(sessions), _files(settings))
    bad = [
        (("a.jpg", make_jpeg(exif=False), "image/jpeg"), 422, "no EXIF"),
        (("a.png", _png(), "image/png"), 422, "png"),
        (("a.jpg", b"hello, not an image", "image/jpeg"), 422, "accepted here: jpeg"),
        (("a.jpg", jpg, "image/png"), 422, "declared as 'image/png'"),
    ]
    for f, code, frag in bad:
        r = client.post(up, files={"file": f}, headers=liaison)
        assert r.status_code == code, (f[0], r.text)
        assert frag in r.json()["error"]["message"]
        assert (_rows(sessions), _files(settings)) == before
    assert client.post("/verifications/999/photos", files=files, headers=liaison).status_code == 404
    assert (_rows(sessions), _files(settings)) == before

    layer = client.get("/verifications/photo-points", headers=viewer).json()
    assert len(layer["features"]) == 2
    assert (
        client.get(
            "/verifications/photo-points", params={"bbox": "1,2"}, headers=viewer
        ).status_code
        == 422
    )

    r = client.post(f"/verifications/{vid}/status", json={"status": "returned"}, headers=liaison)
    assert r.status_code == 422 and "reason" in r.json()["error"]["message"]
    r = client.post(f"/verifications/{vid}/status", json={"status": "reviewed"}, headers=liaison)
    assert r.status_code == 200 and [h["status"] for h in r.json()["history"]] == [
        "submitted",
        "reviewed",
    ]
    r = client.post(f"/verifications/{vid}/status", json={"status": "submitted"}, headers=liaison)
    assert r.status_code == 409

    # opening a case is enforcement staff's decision (route-policy table): editor, not liaison
    r = client.post(
        f"/verifications/{vid}/structure-case", json={"category": "steel_shed"}, headers=liaison
    )
    assert r.status_code == 403
    (editor,) = bearer_headers(sessions, ("e1", "editor"), actor="seed")
    r = client.post(
        f"/verifications/{vid}/structure-case", json={"category": "steel_shed"}, headers=editor
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "suspected"
    listed = client.get(
        "/verifications", params={"target_kind": "farmland_parcel", "target_id": 1}, headers=viewer
    ).json()
    assert listed[0]["structure_id"] == r.json()["structure_id"]


def test_oversized_upload_is_refused(tokens, settings, sessions):
    _, liaison = tokens
    small = settings.model_copy(
        update={"limits": settings.limits.model_copy(update={"max_upload_bytes": 2000})}
    )
    with TestClient(create_app(small)) as c:
        vid = c.post(
            "/verifications", json={"patch_code": "P2", "result": "farmland"}, headers=liaison
        ).json()["id"]
        big = make_jpeg(fs.X0 + 0.003, fs.Y0 + 0.001, size=(400, 300))
        assert len(big) > 2000
        r = c.post(
            f"/verifications/{vid}/photos",
            files={"file": ("big.jpg", big, "image/jpeg")},
            headers=liaison,
        )
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    assert _rows(sessions) == (1, 0) and _files(settings) == []


def test_rulings(client, tokens):
    viewer, liaison = tokens
    r = client.post("/rulings/BH-2024-02", json={"ruling": "legal"}, headers=liaison)
    assert r.status_code == 422 and "approval number" in r.json()["error"]["message"]
    assert (
        client.post("/rulings/BH-2024-02", json={"ruling": "illegal"}, headers=viewer).status_code
        == 403
    )
    r = client.post(
        "/rulings/BH-2024-02",
        json={"ruling": "legal", "approval_no": "津规自地〔2023〕12号"},
        headers=liaison,
    )
    assert r.status_code == 200 and r.json()["ruling_label"] == "合法"
    assert (
        client.post("/rulings/BH-2024-01", json={"ruling": "illegal"}, headers=liaison).status_code
        == 200
    )
    s = {
        row["ruling"]: row["count"] for row in client.get("/rulings/summary", headers=viewer).json()
    }
    assert s == {"legal": 1, "illegal": 1, "other": 0, "false_change": 0, "pending": 4}
    share = client.get("/rulings/farmland-share", params={"period": "year"}, headers=viewer).json()
    assert share[0]["period"] == "2024" and 0 < share[0]["illegal_share_pct"] < 100
    assert (
        client.get("/rulings/farmland-share", params={"period": "week"}, headers=viewer).status_code
        == 422
    )
    assert client.get("/rulings/BH-2024-01", headers=viewer).json()["ruled_by"] == "api:l1"


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return buf.getvalue()
