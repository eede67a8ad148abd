"""Ministry patches (卫片图斑) over HTTP: roles, ETag/If-Match on ruling and rectification,
evidence upload and refusal (wrong type, too big: nothing stored), the quarterly table."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import create_app
from geo_enforce.mnr import imports
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.mnr import MnrEvidence
from tests.conftest import bearer_headers
from tests.db.test_farmland_photos import make_jpeg
from tests.db.test_mnr import PDF
from tests.support import mnr_files as mf

NO = "1201112024Q30001"


@pytest.fixture
def tokens(sessions, tmp_path):
    mf.seed_village(sessions)
    path = mf.write_patches(
        tmp_path / "wp.shp", mf.gbk_rows(), [mf.OUTSIDE, mf.INSIDE], encoding="GBK"
    )
    with transaction(sessions, "cli:seed") as s:
        imports.import_patches(s, path)
    return bearer_headers(
        sessions, ("v1", "viewer"), ("l1", "liaison"), ("e1", "editor"), actor="seed"
    )


def _stored(sessions, settings) -> tuple[int, list]:
    d = settings.data_dir / "mnr_evidence"
    with sessions() as s:
        n = s.scalar(select(func.count()).select_from(MnrEvidence)) or 0
    return n, sorted(d.iterdir()) if d.exists() else []


def test_list_and_read_with_etag(client, tokens):
    viewer, _, _ = tokens
    r = client.get("/mnr/patches", params={"quarter": "2024Q3"}, headers=viewer)
    assert r.status_code == 200
    body = r.json()
    assert body["numberMatched"] == 2
    props = body["features"][0]["properties"]
    assert props["patch_no"] == NO and props["source"] == "mnr"
    assert props["suggested_ruling_label"] == "违法" and props["admin_name"] == "西青区"
    r = client.get(f"/mnr/patches/{NO}", headers=viewer)
    assert r.status_code == 200 and r.headers["etag"] == f'"{r.json()["properties"]["version"]}"'
    assert r.json()["properties"]["evidence_items"] == []
    assert client.get("/mnr/patches/NOPE", headers=viewer).status_code == 404
    assert client.get("/mnr/patches", params={"ruling": "maybe"}, headers=viewer).status_code == 422


def test_ruling_needs_version_and_role(client, tokens):
    viewer, liaison, _ = tokens
    etag = client.get(f"/mnr/patches/{NO}", headers=viewer).headers["etag"]
    url = f"/mnr/patches/{NO}/ruling"
    assert client.post(url, json={"ruling": "illegal"}, headers=viewer).status_code == 403
    assert client.post(url, json={"ruling": "illegal"}, headers=liaison).status_code == 428
    r = client.post(url, json={"ruling": "illegal"}, headers={**liaison, "If-Match": etag})
    assert r.status_code == 200
    p = r.json()["properties"]
    assert p["ruling_label"] == "违法" and p["rectification_label"] == "未整改"
    new = r.headers["etag"]
    assert new != etag
    stale = client.post(
        f"/mnr/patches/{NO}/rectification",
        json={"rectification": "done"},
        headers={**liaison, "If-Match": etag},
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["current_version"] == int(new.strip('"'))
    r = client.post(
        f"/mnr/patches/{NO}/rectification",
        json={"rectification": "done", "version": int(new.strip('"'))},
        headers=liaison,
    )
    assert r.status_code == 200 and r.json()["properties"]["rectification_label"] == "已整改"


def test_evidence_upload_download_and_refusals(client, tokens, sessions, settings):
    viewer, liaison, _ = tokens
    url = f"/mnr/patches/{NO}/evidence"
    photo = make_jpeg(mf.OUTSIDE.centroid.x, mf.OUTSIDE.centroid.y)
    files = {"file": ("现场.jpg", photo, "image/jpeg")}
    assert client.post(url, data={"kind": "photo"}, files=files, headers=viewer).status_code == 403
    r = client.post(url, data={"kind": "photo"}, files=files, headers=liaison)
    assert r.status_code == 201, r.text
    ev = r.json()["evidence"]
    assert ev["kind_label"] == "照片" and ev["original_name"] == "现场.jpg"
    got = client.get(ev["file_url"], headers=viewer)
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg"
    # a PDF sent as a photo, a JPEG declared as a PDF: refused, nothing stored
    for kind, name, data, ctype in (
        ("photo", "a.jpg", PDF, "image/jpeg"),
        ("document", "b.pdf", photo, "application/pdf"),
    ):
        r = client.post(
            url, data={"kind": kind}, files={"file": (name, data, ctype)}, headers=liaison
        )
        assert r.status_code == 422, r.text
    assert _stored(sessions, settings)[0] == 1 and len(_stored(sessions, settings)[1]) == 1
    detail = client.get(f"/mnr/patches/{NO}", headers=viewer).json()["properties"]
    assert [e["kind"] for e in detail["evidence_items"]] == ["photo"]


def test_oversized_evidence_is_refused(tokens, settings, sessions):
    _, liaison, _ = tokens
    small = settings.model_copy(
        update={"limits": settings.limits.model_copy(update={"max_upload_bytes": 60})}
    )
    with TestClient(create_app(small)) as c:
        r = c.post(
            f"/mnr/patches/{NO}/evidence",
            data={"kind": "document"},
            files={"file": ("big.pdf", PDF + b"x" * 100, "application/pdf")},
            headers=liaison,
        )
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    assert _stored(sessions, settings) == (0, [])


def test_quarterly_json_and_xlsx(client, tokens):
    viewer, liaison, _ = tokens
    etag = client.get(f"/mnr/patches/{NO}", headers=viewer).headers["etag"]
    client.post(
        f"/mnr/patches/{NO}/ruling",
        json={"ruling": "illegal"},
        headers={**liaison, "If-Match": etag},
    )
    r = client.get("/mnr/quarterly", params={"quarter": "2024年第三季度"}, headers=viewer)
    assert r.status_code == 200
    rows = {row["ruling"]: row for row in r.json()["rows"]}
    assert rows["illegal"]["count"] == 1 and rows["pending"]["count"] == 1
    assert rows["illegal"]["rectification"]["not_started"] == 1
    assert r.json()["total"]["count"] == 2
    x = client.get("/mnr/quarterly", params={"quarter": "2024Q3", "format": "xlsx"}, headers=viewer)
    assert x.status_code == 200 and "mnr-2024Q3.xlsx" in x.headers["content-disposition"]
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(x.content)).worksheets[0]
    assert ws["A9"].value == "合计" and ws["B9"].value == "=SUM(B4:B8)"
    bad = client.get("/mnr/quarterly", params={"quarter": "Q9"}, headers=viewer)
    assert bad.status_code == 422


def test_patches_route_tells_sources_apart(client, tokens):
    viewer, _, _ = tokens
    r = client.get("/patches", params={"source": "mnr"}, headers=viewer)
    assert r.status_code == 200 and r.json()["numberMatched"] == 2
    props = r.json()["features"][0]["properties"]
    assert props["source_label"] == "卫片执法图斑" and props["source_no"].startswith("12011120")
    assert (
        client.get("/patches", params={"source": "flight"}, headers=viewer).json()["numberMatched"]
        == 0
    )
    assert client.get("/patches", params={"source": "x"}, headers=viewer).status_code == 422
