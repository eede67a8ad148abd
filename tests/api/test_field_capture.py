"""Field capture (issue 15): the inspector role, patrol records opening suspected cases,
evidence with EXIF time and position, idempotent sync, conflicts kept, bounds, append-only
evidence, the case timeline, closing a demolition, today's work list and GPX."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from geoalchemy2.shape import from_shape
from PIL import Image
from shapely.geometry import MultiPolygon, box, mapping
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from api import create_app
from geo_enforce.ledger import lifecycle
from geo_enforce.ledger.edits import create_structure
from geo_enforce.settings import LimitSettings, Settings
from geo_enforce.storage import localdb
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.field_models import CaptureFile, CaptureKey, CaseEvidence, PatrolRecord
from geo_enforce.storage.models import AuditLog, ChangePatch, Structure
from tests.conftest import bearer_headers
from tests.db.test_farmland_photos import make_jpeg
from tests.support.geometries import X0, Y0
from tests.support.media_files import mp4

LIMIT = 300_000
SKETCH = box(X0 + 0.010, Y0 + 0.010, X0 + 0.0104, Y0 + 0.0103)


@pytest.fixture
def field_client(db_url: str, tmp_path: Path):
    settings = Settings(
        database_url=db_url, data_dir=tmp_path / "var", limits=LimitSettings(max_upload_bytes=LIMIT)
    )
    with TestClient(create_app(settings)) as c:
        yield c, settings


@pytest.fixture
def seeded(sessions):
    """Two cases (one open with a notice past its deadline, one dismissed) and two patches."""
    with transaction(sessions, "test:seed") as s:
        open_case = create_structure(
            s,
            case_no="JX-2025-0001",
            geometry=box(X0, Y0, X0 + 0.0005, Y0 + 0.0004),
            category="steel_shed",
            discovered_on=dt.date(2025, 3, 1),
        )
        lifecycle.transition(
            s, open_case, "verified", actor="test", reason="核实", effective_on=dt.date(2025, 3, 2)
        )
        lifecycle.transition(
            s,
            open_case,
            "notice_served",
            actor="test",
            reason="送达",
            effective_on=dt.date(2025, 3, 3),
            deadline=dt.date(2025, 3, 20),
        )
        closed = create_structure(
            s,
            case_no="JX-2025-0002",
            geometry=box(X0 + 0.002, Y0, X0 + 0.0025, Y0 + 0.0004),
            category="wall",
            discovered_on=dt.date(2025, 3, 1),
        )
        lifecycle.transition(
            s,
            closed,
            "dismissed",
            actor="test",
            reason="不予立案",
            effective_on=dt.date(2025, 3, 5),
        )
        near = ChangePatch(code="CP-NEAR", geom=from_shape(MultiPolygon([SKETCH]), 4490))
        far_box = box(X0 + 0.05, Y0 + 0.05, X0 + 0.0504, Y0 + 0.0503)
        far = ChangePatch(code="CP-FAR", geom=from_shape(MultiPolygon([far_box]), 4490))
        s.add_all([near, far])
        s.flush()
        ids = {"open": open_case.id, "closed": closed.id, "near": near.id, "far": far.id}
    return ids


@pytest.fixture
def heads(sessions, seeded):
    viewer, inspector, editor = bearer_headers(
        sessions, ("v1", "viewer"), ("i1", "inspector"), ("e1", "editor"), actor="seed"
    )
    return {"viewer": viewer, "inspector": inspector, "editor": editor}


def _key() -> str:
    return str(uuid.uuid4())


def _counts(sessions, settings) -> dict[str, int]:
    with sessions() as s:
        out = {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (PatrolRecord, CaseEvidence, CaptureFile, CaptureKey, Structure)
        }
    folder = settings.data_dir / "evidence"
    out["files_on_disk"] = len(list(folder.iterdir())) if folder.exists() else 0
    return out


def _patrol(client, headers, key, *, files=(), **fields):
    data = {"observed_at": "2025-06-01T10:20:00", "category": "new_construction", **fields}
    return client.post(
        "/field/patrols",
        data={k: str(v) for k, v in data.items()},
        files=[("files", f) for f in files],
        headers={**headers, "Idempotency-Key": key},
    )


def test_inspector_captures_and_cannot_edit_the_ledger(field_client, heads, seeded):
    client, _ = field_client
    r = _patrol(client, heads["viewer"], _key(), lon=X0 + 0.001, lat=Y0 + 0.001)
    assert r.status_code == 403
    r = _patrol(client, heads["inspector"], _key(), lon=X0 + 0.001, lat=Y0 + 0.001, note="巡查")
    assert r.status_code == 201, r.text
    assert r.json()["recorded_by"] == "api:i1" and r.json()["category_label"] == "新建在建"
    assert r.json()["observed_at"].endswith("+08:00")
    # the ledger stays the editors'
    sid = seeded["open"]
    r = client.patch(
        f"/structures/{sid}", json={"notes": "x", "version": 3}, headers=heads["inspector"]
    )
    assert r.status_code == 403
    body = {"to_status": "demolished", "reason": "x", "version": 3}
    r = client.post(f"/structures/{sid}/transitions", json=body, headers=heads["inspector"])
    assert r.status_code == 403
    r = client.post(
        f"/structures/{sid}/close-demolition",
        json={"evidence_ids": [1]},
        headers=heads["inspector"],
    )
    assert r.status_code == 403
    r = client.post("/structures", json={}, headers=heads["inspector"])
    assert r.status_code == 403


def test_patrol_opens_a_suspected_case_in_one_step(field_client, heads, sessions):
    client, settings = field_client
    photo = make_jpeg(X0 + 0.0102, Y0 + 0.0101, heading=90.0, taken="2025:06:01 10:18:00")
    r = _patrol(
        client,
        heads["inspector"],
        _key(),
        files=[("shed.jpg", photo, "image/jpeg")],
        new_suspected="true",
        structure_category="steel_shed",
        sketch=json.dumps(mapping(SKETCH)),
        note="新搭彩钢房",
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["opened_case"] is True and p["case_no"] == f"XC20250601-{p['id']:04d}"
    case = client.get(f"/structures/{p['structure_id']}", headers=heads["viewer"]).json()
    props = case["properties"]
    assert props["status"] == "suspected" and props["category"] == "steel_shed"
    assert props["discovered_on"] == "2025-06-01" and props["case_no"] == p["case_no"]
    assert props["area_m2"] > 0
    # one transaction: the case, the record and its file were audited together
    with sessions() as s:
        txids = set(
            s.scalars(
                select(AuditLog.txid).where(
                    AuditLog.table_name.in_(("structure", "patrol_record", "capture_file")),
                    AuditLog.action == "insert",
                    AuditLog.actor == "api:i1",
                )
            )
        )
    assert len(txids) == 1
    # the photo's time and position are its EXIF's, its hash the bytes received
    (f,) = p["files"]
    assert f["sha256"] == hashlib.sha256(photo).hexdigest() and f["media"] == "photo"
    assert f["position_source"] == "exif" and f["time_source"] == "exif"
    assert f["lon"] == pytest.approx(X0 + 0.0102, abs=1e-6)
    assert f["lat"] == pytest.approx(Y0 + 0.0101, abs=1e-6)
    assert f["heading_deg"] == pytest.approx(90.0)
    assert f["taken_at"] == "2025-06-01T10:18:00+08:00"
    # the record's position is the photo's when the device gave none
    assert p["lon"] == pytest.approx(f["lon"]) and p["sketch"]["type"] == "MultiPolygon"
    r = client.get(f["url"], headers=heads["viewer"])
    assert r.status_code == 200 and r.content == photo
    # without an outline a new suspected structure is refused, nothing stored
    before = _counts(sessions, settings)
    r = _patrol(client, heads["inspector"], _key(), lon=X0, lat=Y0, new_suspected="true")
    assert r.status_code == 422 and "勾绘" in r.json()["error"]["message"]
    assert _counts(sessions, settings) == before


def test_device_time_and_position_when_exif_has_none(field_client, heads, seeded):
    client, _ = field_client
    bare = make_jpeg(exif=False)
    r = client.post(
        f"/structures/{seeded['open']}/evidence",
        data={
            "stage": "inspection",
            "observed_at": "2025-06-02T09:00:00+08:00",
            "lon": str(X0 + 0.0002),
            "lat": str(Y0 + 0.0002),
            "accuracy_m": "8",
        },
        files=[("files", ("a.jpg", bare, "image/jpeg"))],
        headers={**heads["inspector"], "Idempotency-Key": _key()},
    )
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["stage_label"] == "现场检查" and e["case_no"] == "JX-2025-0001"
    (f,) = e["files"]
    assert f["position_source"] == "device" and f["time_source"] == "device"
    assert f["lon"] == pytest.approx(X0 + 0.0002) and f["taken_at"] == "2025-06-02T09:00:00+08:00"
    assert any("无 GPS" in w for w in e["warnings"])


def test_retry_with_the_same_key_stores_nothing_new(field_client, heads, seeded, sessions):
    client, settings = field_client
    key, photo = _key(), make_jpeg(X0 + 0.001, Y0 + 0.001)
    kw = {"files": [("p.jpg", photo, "image/jpeg")], "lon": X0 + 0.001, "lat": Y0 + 0.001}
    first = _patrol(client, heads["inspector"], key, **kw)
    assert first.status_code == 201
    after_first = _counts(sessions, settings)
    for _ in range(2):
        again = _patrol(client, heads["inspector"], key, **kw)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        assert again.json()["replayed"] is True
        assert again.json()["files"] == first.json()["files"]
    assert _counts(sessions, settings) == after_first
    # the key also rides as a form field
    r = client.post(
        "/field/patrols",
        data={"observed_at": "2025-06-01T10:20:00", "category": "new_construction",
              "lon": str(X0 + 0.001), "lat": str(Y0 + 0.001), "idempotency_key": key},
        files=[("files", ("p.jpg", photo, "image/jpeg"))],
        headers=heads["inspector"],
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["id"] == first.json()["id"]
    # same key, other content: refused, nothing stored
    r = _patrol(client, heads["inspector"], key, **{**kw, "note": "另一条"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "KeyReused"
    assert key in r.json()["error"]["message"] and "新的键" in r.json()["error"]["message"]
    assert _counts(sessions, settings) == after_first
    # another user replaying someone's key gets the same refusal
    (other,) = bearer_headers(sessions, ("i2", "inspector"))
    r = _patrol(client, other, key, **kw)
    assert r.status_code == 409
    # no key at all
    r = client.post(
        "/field/patrols",
        data={"observed_at": "2025-06-01T10:20:00", "category": "no_issue", "lon": str(X0),
              "lat": str(Y0)},
        headers=heads["inspector"],
    )  # fmt: skip
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["error"]["message"]
    assert _counts(sessions, settings) == after_first


def test_capture_on_a_closed_case_is_kept_unlinked_with_a_clear_conflict(
    field_client, heads, seeded, sessions
):
    client, settings = field_client
    key, photo = _key(), make_jpeg(X0 + 0.0021, Y0 + 0.0001)
    sid = seeded["closed"]

    def send():
        return client.post(
            f"/structures/{sid}/evidence",
            data={"stage": "during", "observed_at": "2025-06-03T15:00:00"},
            files=[("files", ("d.jpg", photo, "image/jpeg"))],
            headers={**heads["inspector"], "Idempotency-Key": key},
        )

    r = send()
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "CaseClosed" and err["case_no"] == "JX-2025-0002"
    assert err["case_status"] == "dismissed" and err["case_status_label"] == "不予立案"
    assert "JX-2025-0002" in err["message"] and "不予立案" in err["message"]
    assert "未关联的巡查记录" in err["message"]
    stored = err["stored"]
    assert stored["kind"] == "patrol" and stored["structure_id"] is None
    assert stored["conflict_case_id"] == sid and stored["conflict_stage"] == "during"
    assert stored["files"][0]["sha256"] == hashlib.sha256(photo).hexdigest()
    counts = _counts(sessions, settings)
    assert counts["case_evidence"] == 0 and counts["patrol_record"] == 1
    # the retry gets the same answer and stores nothing
    r2 = send()
    assert r2.status_code == 409 and r2.json()["error"]["stored"]["id"] == stored["id"]
    assert _counts(sessions, settings) == counts
    # editors find it among the unlinked records
    r = client.get("/field/patrols", params={"unlinked": "true"}, headers=heads["viewer"])
    assert [p["id"] for p in r.json()] == [stored["id"]]
    # a patrol naming the closed case is kept unlinked the same way
    r = _patrol(client, heads["inspector"], _key(), lon=X0, lat=Y0, structure_id=sid)
    assert r.status_code == 409 and r.json()["error"]["stored"]["conflict_case_id"] == sid


@pytest.mark.parametrize(
    ("name", "content", "ctype", "status", "words"),
    [
        ("big.jpg", b"\xff\xd8\xff\xe0" + b"\0" * (LIMIT + 10), "image/jpeg", 413, "超过上限"),
        ("notes.jpg", b"just some text, not a photo at all", "image/jpeg", 422, "不是可接受"),
        ("page.html", b"<html><body>x</body></html>", "text/html", 422, "不是可接受"),
        ("broken.jpg", make_jpeg(X0, Y0)[:300], "image/jpeg", 422, "damaged"),
        ("clip.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\0" * 40,
         "video/mp4", 422, "不是完整的视频"),
        ("notice.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "application/pdf", 422, "PDF"),
        ("img.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 40,
         "image/heic", 422, "HEIC"),
    ],
)  # fmt: skip
def test_files_out_of_bounds_are_refused_and_nothing_is_stored(
    field_client, heads, seeded, sessions, name, content, ctype, status, words
):
    client, settings = field_client
    before = _counts(sessions, settings)
    good = make_jpeg(X0, Y0)
    r = client.post(
        f"/structures/{seeded['open']}/evidence",
        data={"stage": "before", "observed_at": "2025-06-01T08:00:00"},
        files=[("files", ("ok.jpg", good, "image/jpeg")), ("files", (name, content, ctype))],
        headers={**heads["inspector"], "Idempotency-Key": _key()},
    )
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"] and name in r.json()["error"]["message"]
    assert _counts(sessions, settings) == before


def test_videos_and_pdfs_are_taken_with_their_kind(field_client, heads, seeded):
    client, _ = field_client
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x10moov" + b"\0" * 8
    pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
    r = client.post(
        f"/structures/{seeded['open']}/evidence",
        data={"stage": "notice_served", "observed_at": "2025-06-01T08:00:00", "lon": str(X0),
              "lat": str(Y0)},
        files=[("files", ("v.mp4", mp4, "video/mp4")),
               ("files", ("n.pdf", pdf, "application/pdf"))],
        headers={**heads["inspector"], "Idempotency-Key": _key()},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    kinds = [(f["media"], f["content_type"]) for f in r.json()["files"]]
    assert kinds == [("video", "video/mp4"), ("document", "application/pdf")]


def test_evidence_is_append_only_in_the_database(
    field_client, heads, seeded, sessions, db_url, pg_port
):
    client, _ = field_client
    r = client.post(
        f"/structures/{seeded['open']}/evidence",
        data={"stage": "inspection", "observed_at": "2025-06-01T08:00:00"},
        files=[("files", ("a.jpg", make_jpeg(X0, Y0), "image/jpeg"))],
        headers={**heads["inspector"], "Idempotency-Key": _key()},
    )
    eid, fid = r.json()["id"], r.json()["files"][0]["id"]
    for sql in (
        f"UPDATE case_evidence SET note = 'changed' WHERE id = {eid}",
        f"DELETE FROM case_evidence WHERE id = {eid}",
        f"UPDATE capture_file SET sha256 = repeat('0', 64) WHERE id = {fid}",
        f"DELETE FROM capture_file WHERE id = {fid}",
        "UPDATE capture_key SET outcome = 'conflict'",
        "DELETE FROM capture_key",
    ):
        with sessions() as s, pytest.raises(DBAPIError, match=r"append-only"):
            s.execute(text(sql))
    with sessions() as s, pytest.raises(DBAPIError, match=r"permission denied"):
        s.execute(text("TRUNCATE case_evidence CASCADE"))
    # not even the schema owner may rewrite or drop evidence (the trigger, not a grant)
    owner = create_engine(localdb.url_for(pg_port, str(make_url(db_url).database), "ge_owner"))
    try:
        for sql in (
            f"UPDATE case_evidence SET note = 'changed' WHERE id = {eid}",
            f"DELETE FROM capture_file WHERE id = {fid}",
            "TRUNCATE case_evidence CASCADE",
        ):
            with owner.begin() as conn, pytest.raises(DBAPIError, match=r"append-only"):
                conn.execute(text(sql))
    finally:
        owner.dispose()
    # inserts are audited with the inspector as actor
    with sessions() as s:
        actors = set(
            s.scalars(
                select(AuditLog.actor).where(
                    AuditLog.table_name.in_(("case_evidence", "capture_file"))
                )
            )
        )
    assert actors == {"api:i1"}


def test_timeline_and_closing_a_demolition_with_after_photos(field_client, heads, seeded, sessions):
    client, _ = field_client
    sid = seeded["open"]

    def evidence(stage: str, when: str, files):
        return client.post(
            f"/structures/{sid}/evidence",
            data={"stage": stage, "observed_at": when, "lon": str(X0), "lat": str(Y0)},
            files=[("files", f) for f in files],
            headers={**heads["inspector"], "Idempotency-Key": _key()},
        )

    pdf = b"%PDF-1.4\n%%EOF\n"
    before = evidence("before", "2025-06-10T09:00:00", [("b.jpg", make_jpeg(), "image/jpeg")])
    after_pdf = evidence("after", "2025-06-12T16:00:00", [("n.pdf", pdf, "application/pdf")])
    after = evidence("after", "2025-06-12T17:00:00", [("a.png", _png(), "image/png")])
    assert {before.status_code, after_pdf.status_code, after.status_code} == {201}
    assert after.json()["files"][0]["content_type"] == "image/png"
    etag = client.get(f"/structures/{sid}", headers=heads["editor"]).headers["ETag"]
    url = f"/structures/{sid}/close-demolition"
    # only 拆除后 evidence closes it, and a photo must be among it
    r = client.post(url, json={"evidence_ids": [before.json()["id"]]},
                    headers={**heads["editor"], "If-Match": etag})  # fmt: skip
    assert r.status_code == 422 and "拆除后" in r.json()["error"]["message"]
    r = client.post(url, json={"evidence_ids": [after_pdf.json()["id"]]},
                    headers={**heads["editor"], "If-Match": etag})  # fmt: skip
    assert r.status_code == 422 and "照片" in r.json()["error"]["message"]
    r = client.post(url, json={"evidence_ids": [after.json()["id"]]}, headers=heads["editor"])
    assert r.status_code == 428
    ids = [after_pdf.json()["id"], after.json()["id"]]
    r = client.post(url, json={"evidence_ids": ids}, headers={**heads["editor"], "If-Match": etag})
    assert r.status_code == 201, r.text
    closed = r.json()
    assert closed["status"] == "demolished" and closed["transition"]["cites_evidence"] == ids
    assert closed["transition"]["effective_on"] == "2025-06-12"
    assert f"#{ids[0]}" in closed["transition"]["reason"]
    # after closing, 拆除后 photos are still taken; 拆除中 ones are kept apart (conflict)
    assert (
        evidence("after", "2025-06-13T09:00:00", [("c.jpg", make_jpeg(), "image/jpeg")]).status_code
        == 201
    )
    assert (
        evidence(
            "during", "2025-06-13T09:00:00", [("d.jpg", make_jpeg(), "image/jpeg")]
        ).status_code
        == 409
    )

    tl = client.get(f"/structures/{sid}/timeline", headers=heads["viewer"])
    assert tl.status_code == 200
    body = tl.json()
    assert body["status_label"] == "已拆除"
    kinds = [
        (e["kind"], (e["evidence"] or e["transition"] or {}).get("stage")
         or (e["transition"] or {}).get("to_status") or "patrol")
        for e in body["entries"]
    ]  # fmt: skip
    assert kinds[:2] == [("transition", "verified"), ("transition", "notice_served")]
    assert ("evidence", "before") in kinds and ("transition", "demolished") in kinds
    assert ("patrol", "patrol") in kinds  # the 拆除中 capture kept apart, shown on the case
    ats = [e["at"] for e in body["entries"]]
    assert ats == sorted(ats, key=dt.datetime.fromisoformat)
    demolished = next(e for e in body["entries"] if e["kind"] == "transition"
                      and e["transition"]["to_status"] == "demolished")  # fmt: skip
    assert demolished["transition"]["cites_evidence"] == ids
    cited = [e for e in body["entries"] if e["kind"] == "evidence" and e["evidence"]["cited_by"]]
    assert sorted(e["evidence"]["id"] for e in cited) == ids


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def test_work_list_nearest_first_overdue_and_gpx(field_client, heads, seeded):
    client, _ = field_client
    v = heads["viewer"]
    r = client.get("/field/patches", params={"lon": X0 + 0.0501, "lat": Y0 + 0.0501}, headers=v)
    assert r.status_code == 200
    got = r.json()
    assert [p["code"] for p in got] == ["CP-FAR", "CP-NEAR"]
    assert got[0]["distance_m"] == 0 and got[1]["distance_m"] > 5000
    assert got[0]["status_label"] == "待核查"
    r = client.get("/field/patches", params={"lon": X0, "lat": Y0}, headers=v)
    assert [p["code"] for p in r.json()] == ["CP-NEAR", "CP-FAR"]
    r = client.get("/field/patches", params={"lon": X0}, headers=v)
    assert r.status_code == 422
    r = client.get("/field/overdue", params={"lon": X0, "lat": Y0}, headers=v)
    assert r.status_code == 200
    (case,) = r.json()["cases"]
    assert case["case_no"] == "JX-2025-0001" and case["distance_m"] == 0
    stops = f"change_patch:{seeded['far']},structure:{seeded['open']},change_patch:{seeded['near']}"
    r = client.get("/field/route.gpx", params={"stops": stops}, headers=v)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/gpx+xml")
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    root = ET.fromstring(r.content)
    assert root.tag == "{http://www.topografix.com/GPX/1/1}gpx" and root.get("version") == "1.1"
    # GPX 1.1 order: metadata, wpt*, rte*
    assert [c.tag.split("}")[1] for c in root] == ["metadata", "wpt", "wpt", "wpt", "rte"]
    names = [p.findtext("g:name", namespaces=ns) for p in root.findall("g:rte/g:rtept", ns)]
    assert names == ["1. CP-FAR", "2. JX-2025-0001", "3. CP-NEAR"]
    for w in root.findall("g:wpt", ns):
        assert 38 < float(w.get("lat", "")) < 40 and 117 < float(w.get("lon", "")) < 118
    r = client.get("/field/route.gpx", params={"stops": "structure:999999"}, headers=v)
    assert r.status_code == 404
    for bad in ("house:1", "structure:²", "structure:" + "9" * 40, ""):
        r = client.get("/field/route.gpx", params={"stops": bad}, headers=v)
        assert r.status_code == 422, bad


def test_a_video_brings_its_own_time_and_place(field_client, heads, seeded):
    """MP4 creation time (movie header) and ©xyz position are the file's, like a photo's EXIF;
    with no observed_at the evidence is dated by the video."""
    client, _ = field_client
    taken = dt.datetime(2025, 6, 1, 2, 20, 5, tzinfo=dt.UTC)
    lon, lat = X0 + 0.0002, Y0 + 0.0002
    video = mp4(taken, f"{lat:+08.4f}{lon:+09.4f}+003.0/")  # as Android writes it
    r = client.post(
        f"/structures/{seeded['open']}/evidence",
        data={"stage": "during"},
        files=[("files", ("VID_0001.mp4", video, "video/mp4"))],
        headers={**heads["inspector"], "Idempotency-Key": _key()},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["observed_at"] == "2025-06-01T10:20:05+08:00"
    (f,) = body["files"]
    assert (f["media"], f["time_source"], f["position_source"]) == ("video", "exif", "exif")
    assert f["taken_at"] == "2025-06-01T10:20:05+08:00"
    assert (f["lon"], f["lat"]) == pytest.approx((round(lon, 4), round(lat, 4)), abs=1e-6)
    assert f["sha256"] == hashlib.sha256(video).hexdigest()
