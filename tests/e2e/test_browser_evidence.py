"""取证 on a case from the map (issue 15 item 2), in headless Chromium on a phone.

An inspector taps a case: its bottom sheet has 取证. The form takes a stage, a note and files
(a photo, a short MP4 carrying its own time and ISO 6709 place, a PDF of a signed notice), with
the time and position of the device; the capture is kept in the IndexedDB queue with an
idempotency key and sent: the case's evidence holds the three files with their SHA-256, the
video placed by its own metadata. Then, offline, evidence is captured on another case which an
editor closes before the network comes back: the sync gets 409 CaseClosed, the sheet says so in
Chinese and keeps the record visible (stored apart as a patrol record), until 知道了.
Screenshots go to ``test-artifacts/map/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from geo_enforce.ledger import lifecycle
from geo_enforce.storage.engine import transaction
from tests.conftest import bearer_headers
from tests.support.browser import CHROMIUM, PHONE, map_point, wait_drawn
from tests.support.mapdata import CLICK_BOX, CLICK_CASE, X0, Y0
from tests.support.media_files import mp4

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]

CASE_A = ((CLICK_BOX[0] + CLICK_BOX[2]) / 2, (CLICK_BOX[1] + CLICK_BOX[3]) / 2)
#: XQ-2024-0001 (verified) in tests/support/mapdata.py: closed while the capture waits offline
CASE_B_NO = "XQ-2024-0001"
CASE_B = (X0 + 0.0017 + 0.0004, Y0 + 0.0014)
DEVICE = {"longitude": CASE_A[0] + 0.0001, "latitude": CASE_A[1], "accuracy": 12}


def jpeg(tint: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (tint, 90, 160)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
VIDEO_AT = dt.datetime(2025, 6, 1, 2, 20, 5, tzinfo=dt.UTC)


def open_case(page, lon: float, lat: float, case_no: str) -> None:
    """Frame the case at zoom 18, wait for it to be drawn, tap it: its bottom sheet opens."""
    page.evaluate("geoEnforce.closeSheet()")
    page.evaluate(
        "([lat, lon]) => geoEnforce.map.setView([lat, lon], 18, {animate: false})", [lat, lon]
    )
    page.wait_for_function(
        "([lat, lon, no]) => { const h = geoEnforce.hitTest(L.latLng(lat, lon));"
        " return !!h && h.layer === 'structure' && h.props.case_no === no; }",
        arg=[lat, lon, case_no],
        timeout=30_000,
    )
    page.touchscreen.tap(*map_point(page, lon, lat))
    page.wait_for_function(
        "(no) => geoEnforce.state.sheet && geoEnforce.state.lastPopup.props.case_no === no",
        arg=case_no,
        timeout=10_000,
    )


def test_evidence_from_a_case_sheet_and_a_conflict_kept_visible(browser, server, shots):
    (headers,) = bearer_headers(server.factory, ("evidence-inspector", "inspector"))
    token = headers["Authorization"].removeprefix("Bearer ")
    ids = server.seeded.structure_ids
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        geolocation=DEVICE,
        permissions=["geolocation"],
    )
    context.set_default_navigation_timeout(90_000)
    context.add_cookies([{"name": "ge_token", "value": token, "url": server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    page.wait_for_function(
        "() => document.querySelectorAll('.ge-capture-cat option').length >= 8", timeout=30_000
    )

    # ---- evidence on the case, online: photo, video, PDF ----
    open_case(page, *CASE_A, CLICK_CASE)
    sheet = page.locator(".ge-sheet")
    sheet.locator(".ge-evidence-open").tap()
    form = sheet.locator(".ge-evidence-form")
    assert form.is_visible()
    stages = sheet.locator(".ge-evidence-stage option").all_inner_texts()
    assert stages == ["现场检查", "责令限期拆除送达", "拆除前", "拆除中", "拆除后", "制止"]
    files = sheet.locator(".ge-evidence-files")
    assert files.get_attribute("accept") == "image/*,video/*,application/pdf"
    # a HEIC photo is refused at once, with the camera setting to change; nothing is queued
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 40
    files.set_input_files(
        files=[{"name": "IMG_0001.HEIC", "mimeType": "image/heic", "buffer": heic}]
    )
    sheet.locator(".ge-evidence-save").tap()
    refused = sheet.locator(".ge-evidence-msg").inner_text()
    assert "IMG_0001.HEIC" in refused and "兼容性最佳" in refused, refused
    assert page.evaluate("geoEnforce.capture.queued().then(q => q.length)") == 0
    photo, video = jpeg(200), mp4(VIDEO_AT, f"{CASE_A[1]:+08.4f}{CASE_A[0]:+09.4f}/")
    sheet.locator(".ge-evidence-stage").select_option("before")
    sheet.locator(".ge-evidence-note").fill("拆除前现场，已拍照录像")
    files.set_input_files(
        files=[
            {"name": "before.jpg", "mimeType": "image/jpeg", "buffer": photo},
            {"name": "VID_0001.mp4", "mimeType": "video/mp4", "buffer": video},
            {"name": "通知书.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ]
    )
    page.screenshot(path=str(shots / "phone-evidence-form.png"))
    sheet.locator(".ge-evidence-save").tap()
    page.wait_for_function(
        "() => geoEnforce.state.capture.synced === 1 && geoEnforce.state.capture.pending === 0",
        timeout=60_000,
    )
    assert "位置取自设备定位" in sheet.locator(".ge-evidence-msg").inner_text()
    with server.factory() as s:
        ev = s.execute(
            text(
                "SELECT e.id, e.stage, e.note, ST_X(e.location) AS lon, ST_Y(e.location) AS lat,"
                " e.accuracy_m, k.key FROM case_evidence e"
                " JOIN capture_key k ON k.record_id = e.id AND k.kind = 'evidence'"
                " WHERE e.structure_id = :sid"
            ),
            {"sid": ids[CLICK_CASE]},
        ).one()
        assert (ev.stage, ev.note) == ("before", "拆除前现场，已拍照录像")
        assert (ev.lon, ev.lat) == pytest.approx((DEVICE["longitude"], DEVICE["latitude"]))
        assert ev.accuracy_m == pytest.approx(12)
        got = s.execute(
            text(
                "SELECT original_name, media, sha256, time_source, position_source, taken_at"
                " FROM capture_file WHERE evidence_id = :id ORDER BY id"
            ),
            {"id": ev.id},
        ).all()
    assert [(g.original_name, g.media) for g in got] == [
        ("before.jpg", "photo"),
        ("VID_0001.mp4", "video"),
        ("通知书.pdf", "document"),
    ]
    assert [g.sha256 for g in got] == [hashlib.sha256(b).hexdigest() for b in (photo, video, PDF)]
    # the photo (no EXIF GPS) placed by the device, the video by its own ©xyz and time
    assert (got[0].time_source, got[0].position_source) == ("device", "device")
    assert (got[1].time_source, got[1].position_source) == ("exif", "exif")
    assert got[1].taken_at == VIDEO_AT
    key = ev.key
    assert page.evaluate("geoEnforce.capture.resendSent().then(r => r.map(x => x.status))") == [200]
    with server.factory() as s:
        n = s.execute(
            text("SELECT count(*) FROM capture_key WHERE key = :k"), {"k": key}
        ).scalar_one()
        assert n == 1

    # ---- offline: evidence on another case, which an editor closes meanwhile ----
    open_case(page, *CASE_B, CASE_B_NO)  # drawn while online; the sheet stays open
    context.set_offline(True)
    sheet.locator(".ge-evidence-open").tap()
    sheet.locator(".ge-evidence-stage").select_option("inspection")
    sheet.locator(".ge-evidence-files").set_input_files(
        files=[{"name": "check.jpg", "mimeType": "image/jpeg", "buffer": jpeg(60)}]
    )
    sheet.locator(".ge-evidence-save").tap()
    page.wait_for_function("() => geoEnforce.state.capture.pending === 1", timeout=30_000)
    assert "离线，联网后自动同步" in sheet.locator(".ge-evidence-msg").inner_text()
    assert "待同步" in sheet.locator(".ge-evidence-list li").inner_text()
    with transaction(server.factory, "test:close") as s:
        case = lifecycle.find_structure(s, case_no=CASE_B_NO)
        lifecycle.transition(s, case, "dismissed", actor="test:editor", reason="不予立案")
    context.set_offline(False)
    page.wait_for_function(
        "() => geoEnforce.state.capture.pending === 0 && geoEnforce.state.capture.conflicts === 1",
        timeout=60_000,
    )
    msg = sheet.locator(".ge-evidence-msg").inner_text()
    assert CASE_B_NO in msg and "结案" in msg and "未关联的巡查记录" in msg, msg
    kept = sheet.locator(".ge-evidence-list li.ge-capture-kept")
    assert kept.count() == 1 and kept.is_visible()
    assert (
        "取证 XQ-2024-0001 现场检查" in kept.inner_text()
        and "已另存为巡查记录 #" in kept.inner_text()
    )
    page.screenshot(path=str(shots / "phone-evidence-conflict.png"))
    with server.factory() as s:
        row = s.execute(
            text("SELECT id, conflict_stage FROM patrol_record WHERE conflict_case_id = :sid"),
            {"sid": ids[CASE_B_NO]},
        ).one()
        assert row.conflict_stage == "inspection"
        assert (
            s.execute(
                text("SELECT count(*) FROM case_evidence WHERE structure_id = :sid"),
                {"sid": ids[CASE_B_NO]},
            ).scalar_one()
            == 0
        )
    assert f"#{row.id}" in kept.inner_text()
    # the 巡查 panel lists it too; 知道了 clears it
    page.evaluate("geoEnforce.closeSheet()")
    page.locator('.ge-tool[data-tool="capture"]').tap()
    panel_kept = page.locator(".ge-capture-list li.ge-capture-kept")
    assert panel_kept.count() == 1
    panel_kept.locator('a[data-act="dismiss"]').tap()
    page.wait_for_function("() => geoEnforce.state.capture.kept === 0", timeout=10_000)
    assert page.locator(".ge-capture-list li").count() == 0
    assert not errors, errors
    context.close()
