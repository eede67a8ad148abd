"""The field map offline (issue 15 item 3), in headless Chromium on a phone.

An inspector opens /map once online (the service worker caches the app shell) and keeps the
village 大任庄村 for offline use from the 离线 panel: the estimate in MB is shown first, then
the worker fetches every tile of the plan into the village's cache while the progress bar
counts. The tiles seen while browsing are dropped (cache ``ge-data``), the network goes
(``context.set_offline(True)``), the map reloads from the cache, the village is opened from the
panel's list and zoomed in: its vector and orthophoto tiles are drawn, every one answered by
the service worker, and not one tile request reaches the server. Three patrol records with a
photo each are captured into the IndexedDB queue (待同步 3); the network comes back and the
queue empties. The test's database then holds exactly three patrol records, one photo each with
its SHA-256, audited; sending the same requests again (same idempotency keys, same content)
stores nothing new. Screenshots go to ``test-artifacts/map/``.
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
from tests.support.mapdata import CLICK_BOX

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]

NOTES = ["东侧新砌围墙", "院内堆放建材", "未发现问题"]
VILLAGE = "120111100001"  # 大任庄村


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
    # keep 大任庄村 for offline use: the estimate first, then the download with its progress
    page.locator('.ge-tool[data-tool="offline"]').tap()
    page.select_option(".ge-offline-village", VILLAGE)
    page.wait_for_function(
        "(c) => (geoEnforce.state.offline.plan || {}).code === c", arg=VILLAGE, timeout=60_000
    )
    plan = page.evaluate("geoEnforce.state.offline.plan")
    estimate = page.locator(".ge-offline-estimate").inner_text()
    assert estimate == plan["message"] and plan["allowed"] is True
    assert estimate.startswith("大任庄村：z14–z19 瓦片 ") and f"约 {plan['mb']:.1f} MB" in estimate
    page.screenshot(path=str(shots / "phone-offline-estimate.png"))
    page.locator(".ge-offline-get").tap()
    page.wait_for_function("() => geoEnforce.state.offline.finished", timeout=300_000)
    got = page.evaluate("geoEnforce.state.offline")
    assert (got["done"], got["failed"], got["error"]) == (plan["tiles"], 0, None), got
    assert got["bytes"] > 0
    bar = page.locator(".ge-offline-progress")
    assert bar.evaluate("el => [el.value, el.max]") == [plan["tiles"], plan["tiles"]]
    assert page.locator(".ge-offline-msg").inner_text().startswith("已下载 大任庄村：")
    assert page.locator(".ge-offline-list li").inner_text().startswith("大任庄村 · ")
    page.screenshot(path=str(shots / "phone-offline-downloaded.png"))
    cached = page.evaluate(
        "(c) => caches.open('ge-village-' + c).then(k => k.keys()).then(k => k.map(r => r.url))",
        VILLAGE,
    )
    assert len(cached) == plan["tiles"]
    assert any("/tiles/ortho/" in u for u in cached) and any(
        "/tiles/structure/19/" in u for u in cached
    )
    # a second download fetches nothing: every tile is there already
    mark = len(server.paths)
    page.evaluate("geoEnforce.offline.download()")
    assert not [p for p in server.paths[mark:] if p.startswith("/tiles/")]
    page.locator('.ge-tool[data-tool="offline"]').tap()  # close the panel
    # what the map drew while browsing goes: offline, the village's own cache must serve.
    # Both copies go, once nothing is in flight: the service worker's browsing cache and the
    # browser's HTTP cache (vector tiles are fresh there for 60 s, so on a fast machine the
    # worker's fetch got them from it and answered 200 for tiles outside the village)
    page.wait_for_load_state("networkidle")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.clearBrowserCache")
    cdp.detach()
    page.evaluate("caches.delete('ge-data')")
    context.set_offline(True)
    assert sorted(page.evaluate("caches.keys()"))[1:] == [f"ge-village-{VILLAGE}"]
    mark = len(server.paths)
    tiles: list[tuple[str, int, bool]] = []
    page.on(
        "response",
        lambda r: (
            tiles.append((r.url, r.status, r.from_service_worker)) if "/tiles/" in r.url else None
        ),
    )
    page.reload(wait_until="load")
    wait_drawn(page, ["structure"])
    assert page.evaluate("navigator.onLine") is False
    # open the village from the 离线 list and zoom in to a case: drawn from the cache
    page.locator('.ge-tool[data-tool="offline"]').tap()
    page.locator('.ge-offline-list a[data-act="open"]').tap()
    assert page.evaluate("geoEnforce.state.offline.opened") == VILLAGE
    assert page.evaluate("geoEnforce.state.panel") is None
    lon, lat = (CLICK_BOX[0] + CLICK_BOX[2]) / 2, (CLICK_BOX[1] + CLICK_BOX[3]) / 2
    seen = page.evaluate("geoEnforce.state.tiles.structure")
    zoomed = len(tiles)
    page.evaluate(
        "([lat, lon]) => geoEnforce.map.setView([lat, lon], 18, {animate: false})", [lat, lon]
    )
    page.wait_for_function(
        "(n) => geoEnforce.state.tiles.structure > n"
        " && geoEnforce.layers.structure._tileZoom === 18",
        arg=seen,
        timeout=30_000,
    )
    page.wait_for_function(
        """() => Object.values(geoEnforce.orthoLayers).every(l => {
            const t = Object.values(l._tiles);
            return t.length && t.every(x => x.loaded && x.el.complete && x.el.naturalWidth > 0);
        })""",
        timeout=30_000,
    )
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots / "phone-offline-village.png"))
    z18 = [t for t in tiles[zoomed:] if "/tiles/structure/18/" in t[0]]
    ortho = [t for t in tiles[zoomed:] if "/tiles/ortho/" in t[0]]
    assert z18 and ortho, tiles
    # every tile answered by the service worker: the village's from its cache, any other
    # (around the village, at the township view) as "not kept" (504, drawn empty)
    kept = set(cached)
    assert all(from_sw for _, _, from_sw in tiles), tiles
    assert all(status == (200 if url in kept else 504) for url, status, _ in tiles), tiles
    # inside the village everything is there: every z18 tile of the zoomed view (requests of
    # the previous view still leaving after the zoom, seen under load, are not the village's)
    # and every orthophoto tile drawn (the wait above: loaded, with pixels, and no request
    # reached the server, below)
    assert all(status == 200 for _, status, _ in z18), z18
    assert not [p for p in server.paths[mark:] if p.startswith("/tiles/")]
    assert page.evaluate("geoEnforce.state.tileErrors") == 0
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
