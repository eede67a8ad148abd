"""The offline capture queue of the field map (issue 15 item 3), in headless Chromium on a phone.

An inspector opens /map once online (the service worker caches the app shell), the network
goes, the map reloads from the cache and three patrol records with a photo each are captured
into the IndexedDB queue (待同步 3); the network comes back and the queue empties. The test's
database then holds exactly three patrol records, one photo each with its SHA-256, audited;
sending the same requests again (same idempotency keys, same content) stores nothing new.
Screenshots go to ``test-artifacts/map/``.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from tests.conftest import bearer_headers
from tests.support.browser import CHROMIUM, PHONE, wait_drawn

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]

NOTES = ["东侧新砌围墙", "院内堆放建材", "未发现问题"]


def jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40 * i, 120, 200 - 40 * i)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def counts(factory) -> dict[str, int]:
    with factory() as s:
        return {
            t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("patrol_record", "capture_file", "capture_key")
        }


def test_offline_captures_queue_and_sync_once(browser, server, shots):
    (headers,) = bearer_headers(server.factory, ("offline-inspector", "inspector"))
    token = headers["Authorization"].removeprefix("Bearer ")
    before = counts(server.factory)
    # no request routing here: Playwright's routing would bypass the service worker
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    context.set_default_navigation_timeout(90_000)
    context.add_cookies([{"name": "ge_token", "value": token, "url": server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: (
            elsewhere.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:"))
            else None
        ),
    )
    page.goto(server.url + "/map", wait_until="load")
    page.wait_for_function("() => !!navigator.serviceWorker.controller", timeout=30_000)
    wait_drawn(page, ["structure"])
    # the category list came (and is kept for offline use)
    page.wait_for_function(
        "() => document.querySelectorAll('.ge-capture-cat option').length >= 8", timeout=30_000
    )
    context.set_offline(True)
    page.reload(wait_until="load")
    wait_drawn(page, ["structure"])
    assert page.evaluate("navigator.onLine") is False
    page.locator('.ge-tool[data-tool="capture"]').tap()
    form = page.locator(".ge-capture")
    assert form.is_visible()
    assert page.locator(".ge-capture-cat option").count() >= 8
    photos = page.locator(".ge-capture-photos")
    assert photos.get_attribute("accept") == "image/*"
    assert photos.get_attribute("capture") == "environment"
    shas = []
    for i, note in enumerate(NOTES):
        data = jpeg(i)
        shas.append(hashlib.sha256(data).hexdigest())
        page.select_option(".ge-capture-cat", "no_issue" if i == 2 else "material_piling")
        page.fill(".ge-capture-note", note)
        photos.set_input_files(
            files=[{"name": f"p{i}.jpg", "mimeType": "image/jpeg", "buffer": data}]
        )
        page.locator(".ge-capture-save").tap()
        page.wait_for_function(
            "(n) => geoEnforce.state.capture.pending === n", arg=i + 1, timeout=30_000
        )
    badge = page.locator(".ge-toolbar .ge-pending")
    assert badge.is_visible() and badge.inner_text() == "待同步 3"
    assert "离线" in page.locator(".ge-capture-msg").inner_text()
    page.screenshot(path=str(shots / "phone-capture-offline-queued.png"))
    # nothing reached the server while offline
    assert counts(server.factory) == before
    keys = page.evaluate("geoEnforce.capture.queued().then(q => q.map(e => e.key))")
    assert len(set(keys)) == 3
    # the network comes back: the 'online' event sends the queue
    context.set_offline(False)
    page.wait_for_function(
        "() => geoEnforce.state.capture.pending === 0 && geoEnforce.state.capture.synced === 3",
        timeout=60_000,
    )
    assert not badge.is_visible()
    page.screenshot(path=str(shots / "phone-capture-synced.png"))
    after = counts(server.factory)
    assert after["patrol_record"] - before["patrol_record"] == 3
    assert after["capture_file"] - before["capture_file"] == 3
    with server.factory() as s:
        rows = s.execute(
            text(
                "SELECT p.id, p.note, p.category, k.key, f.sha256, f.content_type,"
                " ST_X(p.location) AS lon"
                " FROM patrol_record p JOIN capture_file f ON f.patrol_id = p.id"
                " JOIN capture_key k ON k.record_id = p.id AND k.kind = 'patrol'"
                " WHERE p.note = ANY(:notes) ORDER BY p.id"
            ),
            {"notes": NOTES},
        ).all()
        assert [r.note for r in rows] == NOTES
        assert sorted(r.sha256 for r in rows) == sorted(shas)
        assert {r.key for r in rows} == set(keys)
        assert all(r.content_type == "image/jpeg" and r.lon is not None for r in rows)
        ids = [r.id for r in rows]
        audited = s.execute(
            text(
                "SELECT table_name, count(*) FROM audit_log WHERE actor = 'api:offline-inspector'"
                " AND action = 'insert' AND table_name IN ('patrol_record', 'capture_file')"
                " GROUP BY table_name ORDER BY table_name"
            )
        ).all()
        assert [tuple(a) for a in audited] == [("capture_file", 3), ("patrol_record", 3)]
        assert (
            s.execute(
                text(
                    "SELECT count(*) FROM audit_log WHERE table_name = 'patrol_record'"
                    " AND record_id = ANY(:ids)"
                ),
                {"ids": ids},
            ).scalar_one()
            == 3
        )
    # the same three requests again (same keys, same content): replayed, nothing new stored
    again = page.evaluate("geoEnforce.capture.resendSent()")
    assert [a["status"] for a in again] == [200, 200, 200]
    assert all(a["replayed"] for a in again)
    assert sorted(a["id"] for a in again) == ids
    assert counts(server.factory) == after
    assert not elsewhere, elsewhere
    assert not errors, errors
    context.close()
