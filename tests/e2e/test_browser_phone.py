"""The field map on a phone (390×844, touch, ``isMobile``) and its desktop fixes (1366×768).

Issue 15: at 390×844 the open controls covered 47 % of the screen, the legend swallowed the
first tap on a patch, popups opened half hidden behind the 卷帘对比 panel, the coordinate bar
was cut off and the attribution hid the scale bar; on the desktop, search framed the found
feature under the swipe handle, turning the measure tool off erased its result and an address
(``梨园头村337号``) found nothing.

**Covered screen** (:func:`covered`): the border boxes of the visible controls (every
``.leaflet-control`` — zoom, toolbar, open panel, layer switcher, fullscreen, locate, scale,
coordinates, attribution — the swipe divider and its 42 px thumb when the swipe is on, and an
open bottom sheet), clipped to the viewport and united on a pixel mask, so overlaps count
once; divided by the viewport's area. Screenshots and the figures go to
``test-artifacts/map/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from geo_enforce.storage.engine import transaction
from tests.support.browser import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    Net,
    Server,
    map_point,
    open_page,
    wait_drawn,
)
from tests.support.mapdata import CLICK_BOX, CLICK_CASE, X0, Y0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]

#: the change patch of the ledger (tests/support/mapdata): its middle
PATCH = (X0 + 0.0064, Y0 + 0.00285)
CLICK = ((CLICK_BOX[0] + CLICK_BOX[2]) / 2, (CLICK_BOX[1] + CLICK_BOX[3]) / 2)

_BOXES = """() => {
    const boxes = [];
    const add = (r, what) => { if (r.width > 0 && r.height > 0)
        boxes.push({what, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}); };
    const shown = (el) => { if (!el.getClientRects().length) return false;
        const cs = getComputedStyle(el);
        return cs.visibility !== "hidden" && parseFloat(cs.opacity) > 0; };
    document.querySelectorAll(".leaflet-control, .ge-sheet.ge-open, .leaflet-sbs-divider")
        .forEach(el => { if (shown(el)) add(el.getBoundingClientRect(),
            el.className.toString().split(" ").filter(c => c.startsWith("ge-") ||
            c.startsWith("leaflet-control-") || c.startsWith("leaflet-sbs")).join(" ")); });
    const rng = document.querySelector(".leaflet-sbs-range");
    if (rng && shown(rng)) {  // the thumb is drawn outside the range input (height 0)
        const d = document.querySelector(".leaflet-sbs-divider").getBoundingClientRect();
        const r = rng.getBoundingClientRect(), cx = d.left + d.width / 2, cy = r.top;
        add(new DOMRect(cx - 21, cy - 21, 42, 42), "leaflet-sbs-thumb");
    }
    return boxes;
}"""


def covered(page, viewport: dict) -> tuple[float, list[dict]]:
    """Share of the viewport the visible controls cover (union of their boxes) and the boxes."""
    boxes = page.evaluate(_BOXES)
    w, h = viewport["width"], viewport["height"]
    mask = np.zeros((h, w), dtype=bool)
    for b in boxes:
        x0, y0 = max(0, round(b["x0"])), max(0, round(b["y0"]))
        x1, y1 = min(w, round(b["x1"])), min(h, round(b["y1"]))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return float(mask.mean()), boxes


def box_of(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def inside(a: dict, viewport: dict) -> bool:
    return (
        a["x"] >= 0
        and a["y"] >= 0
        and a["x"] + a["width"] <= viewport["width"] + 0.5
        and a["y"] + a["height"] <= viewport["height"] + 0.5
    )


def put_at(page, lon: float, lat: float, x: float, y: float, zoom: int = 17) -> None:
    """Frame the map so that (lon, lat) lies at container point (x, y)."""
    page.evaluate(
        """([lat, lon, x, y, z]) => { const m = geoEnforce.map;
            m.setView([lat, lon], z, {animate: false});
            const p = m.latLngToContainerPoint([lat, lon]);
            m.panBy([p.x - x, p.y - y], {animate: false}); }""",
        [lat, lon, x, y, zoom],
    )


def wait_hit(page, lon: float, lat: float, layer: str) -> None:
    """Wait until the tiles under (lon, lat) are drawn and ``layer``'s feature is there."""
    page.wait_for_function(
        "([lat, lon, layer]) => { const h = geoEnforce.hitTest(L.latLng(lat, lon));"
        " return !!h && h.layer === layer; }",
        arg=[lat, lon, layer],
        timeout=10_000,
    )


def bottom_edge_check(page, viewport: dict) -> None:
    """The coordinate bar fits the screen; the attribution and the scale bar do not overlap."""
    pos = box_of(page, ".ge-mousepos")
    assert inside(pos, viewport), pos
    assert "高斯-克吕格" in page.locator(".ge-mousepos").inner_text()
    scale, attribution = (
        box_of(page, ".leaflet-control-scale"),
        box_of(page, ".leaflet-control-attribution"),
    )
    assert inside(scale, viewport) and inside(attribution, viewport)
    assert not overlap(scale, attribution), (scale, attribution)
    assert not overlap(scale, pos), (scale, pos)


def clean(net: Net) -> None:
    assert not net.blocked, net.blocked
    assert not [f for f in net.failed if "ERR_ABORTED" not in f], net.failed
    assert not net.console_errors, net.console_errors


def test_phone_opens_with_a_quarter_of_the_screen_or_less_covered(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server, phone=True)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure", "change_patch"])
    page.wait_for_load_state("networkidle")
    assert page.evaluate("geoEnforce.phone") is True
    # one toolbar; every panel closed, the legend too; no swipe, no measuring
    tools = page.locator(".ge-toolbar .ge-tool")
    assert tools.all_inner_texts() == "搜索 筛选 量算 卷帘 今日 巡查 离线 图例".split()
    for panel in (
        ".ge-search",
        ".ge-filter",
        ".ge-measure",
        ".ge-swipe",
        ".ge-today",
        ".ge-capture",
        ".ge-offline",
        ".ge-legend",
    ):
        assert not page.locator(panel).is_visible(), panel
    assert page.locator(".leaflet-sbs").count() == 0
    state = page.evaluate("geoEnforce.state")
    assert (state["panel"], state["swipeOn"], state["measuring"]) == (None, False, False)
    share, boxes = covered(page, PHONE)
    page.screenshot(path=str(shots / "phone-open.png"))
    bottom_edge_check(page, PHONE)
    # the same page laid out as on a desktop, for the record: the 47 %
    page.evaluate("geoEnforce.applyLayout(false)")
    page.wait_for_timeout(300)
    before, before_boxes = covered(page, PHONE)
    page.screenshot(path=str(shots / "phone-desktop-layout.png"))
    page.evaluate("geoEnforce.applyLayout(true)")
    assert covered(page, PHONE)[0] == pytest.approx(share, abs=0.002)
    (shots / "phone-coverage.json").write_text(
        json.dumps(
            {
                "viewport": PHONE,
                "covered": round(share, 4),
                "boxes": boxes,
                "desktop_layout_covered": round(before, 4),
                "desktop_layout_boxes": before_boxes,
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    assert share <= 0.25, f"controls cover {share:.1%} of the phone screen: {boxes}"
    assert before > share
    clean(net)
    page.context.close()


def test_phone_first_tap_opens_a_bottom_sheet_nothing_covers(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server, phone=True)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["change_patch"])
    # the patch where the open legend used to lie (bottom right), and the very first tap
    put_at(page, *PATCH, 300, 660)
    wait_drawn(page, ["change_patch"])
    page.wait_for_timeout(300)
    wait_hit(page, *PATCH, "change_patch")
    page.touchscreen.tap(*map_point(page, *PATCH))
    sheet = page.locator(".ge-sheet.ge-open")
    sheet.wait_for(timeout=20_000)
    assert "CP-2024-0001" in sheet.inner_text()
    assert page.evaluate("geoEnforce.state.popups") == 1
    assert page.locator(".leaflet-popup").count() == 0
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.ge-sheet img.ge-chip'))"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=20_000,  # chips cut from the orthophotos: slow when the cores are shared
    )
    box = box_of(page, ".ge-sheet.ge-open")
    assert inside(box, PHONE) and box["y"] + box["height"] == pytest.approx(PHONE["height"])
    # no control lies over any part of the sheet
    hits = page.evaluate(
        """([x0, y0, w, h]) => { const out = [];
            for (let i = 1; i < 8; i++) for (let j = 1; j < 8; j++) {
                const el = document.elementFromPoint(x0 + w * i / 8, y0 + h * j / 8);
                out.push(!!(el && el.closest(".ge-sheet")));
            } return out; }""",
        [box["x"], box["y"], box["width"], box["height"]],
    )
    assert all(hits), hits
    # the tapped patch stays in view above the sheet
    _, py = map_point(page, *PATCH)
    assert py < box["y"], (py, box)
    page.screenshot(path=str(shots / "phone-sheet.png"))
    page.locator(".ge-sheet-close").tap()
    assert not page.locator(".ge-sheet").is_visible()
    clean(net)
    page.context.close()


def test_phone_toolbar_opens_search_swipe_measure_and_legend_on_demand(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server, phone=True)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    tool = lambda name: page.locator(f'.ge-tool[data-tool="{name}"]')  # noqa: E731
    # search by village and house number; the pick closes the panel and frames the case
    tool("search").tap()
    assert page.locator(".ge-search").is_visible()
    page.fill("#ge-search", "大任庄村7号")
    page.press("#ge-search", "Enter")
    hit = page.locator(".ge-search-hit").first
    hit.wait_for(timeout=20_000)
    assert hit.inner_text() == f"大任庄村东街7号（{CLICK_CASE}）"
    page.screenshot(path=str(shots / "phone-search.png"))
    hit.tap()
    assert not page.locator(".ge-search").is_visible()
    found = page.evaluate("geoEnforce.state.found")
    x, y = map_point(page, *CLICK)
    assert abs(found["x"] - x) < 2 and 0 < x < PHONE["width"] and 100 < y < PHONE["height"]
    wait_hit(page, *CLICK, "structure")
    page.touchscreen.tap(x, y)
    page.locator(".ge-sheet.ge-open").wait_for(timeout=20_000)
    assert CLICK_CASE in page.locator(".ge-sheet").inner_text()
    page.locator(".ge-sheet-close").tap()
    # the swipe: on while its panel is open, off when it closes
    tool("swipe").tap()
    page.locator(".leaflet-sbs-divider").wait_for(timeout=20_000)
    assert page.evaluate("geoEnforce.state.swipeOn") is True
    page.screenshot(path=str(shots / "phone-swipe.png"))
    share, _ = covered(page, PHONE)
    tool("swipe").tap()
    assert page.locator(".leaflet-sbs").count() == 0
    # measure: taps add vertices; closing the panel keeps the result until 清除
    tool("measure").tap()
    assert page.evaluate("geoEnforce.state.measuring") is True
    popups = page.evaluate("geoEnforce.state.popups")
    for px, py in ((120, 420), (280, 420), (280, 560)):
        page.touchscreen.tap(px, py)
    measured = page.evaluate("geoEnforce.state.measure")
    # taps while measuring add vertices, they open nothing
    assert measured["area_m2"] > 0 and page.evaluate("geoEnforce.state.popups") == popups
    page.screenshot(path=str(shots / "phone-measure.png"))
    tool("measure").tap()
    assert page.evaluate("geoEnforce.state.measuring") is False
    assert page.evaluate("geoEnforce.state.measure") == measured
    assert page.locator(".leaflet-overlay-pane path").count() >= 1
    tool("measure").tap()
    assert "亩" in page.locator(".ge-measure-out").inner_text()
    page.locator(".ge-measure-clear").tap()
    assert page.evaluate("geoEnforce.state.measure") is None
    tool("measure").tap()
    # the legend, on demand
    tool("legend").tap()
    assert page.locator(".ge-legend").is_visible()
    assert "违法建设" in page.locator(".ge-legend").inner_text()
    page.screenshot(path=str(shots / "phone-legend.png"))
    tool("legend").tap()
    assert not page.locator(".ge-legend").is_visible()
    (shots / "phone-swipe-coverage.json").write_text(json.dumps({"covered": round(share, 4)}))
    clean(net)
    page.context.close()


def test_desktop_search_lands_clear_of_the_swipe_handle(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server, viewport=DESKTOP)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    assert page.evaluate("geoEnforce.phone") is False
    assert page.evaluate("geoEnforce.state.swipeOn") is True
    page.fill("#ge-search", "0007")
    page.press("#ge-search", "Enter")
    page.locator(".ge-search-hit").first.click()
    found = page.evaluate("geoEnforce.state.found")
    handle = page.evaluate("geoEnforce.swipe.getPosition()")
    assert found["x"] > handle + 100, (found, handle)  # on the later flight's side
    wait_hit(page, *CLICK, "structure")
    # the obvious click, on the found feature, opens its popup
    page.mouse.click(*map_point(page, *CLICK))
    page.locator(".leaflet-popup-content").wait_for(timeout=20_000)
    assert CLICK_CASE in page.locator(".leaflet-popup-content").inner_text()
    page.wait_for_load_state("networkidle")  # the orthophoto tiles, for the picture
    page.wait_for_timeout(400)
    page.screenshot(path=str(shots / "desktop-search.png"))
    bottom_edge_check(page, DESKTOP)
    share, _ = covered(page, DESKTOP)
    (shots / "desktop-coverage.json").write_text(json.dumps({"covered": round(share, 4)}))
    clean(net)
    page.context.close()


def test_desktop_popup_clear_of_the_panels_and_measure_kept(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server, viewport=DESKTOP)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    # the structure just right of the panel column, low: its popup would reach under the
    # 卷帘对比 panel
    column = page.evaluate("geoEnforce.controlPadding().topLeft.x")
    put_at(page, *CLICK, column + 20, 420)
    wait_hit(page, *CLICK, "structure")
    page.mouse.click(*map_point(page, *CLICK))
    page.locator(".leaflet-popup-content").wait_for(timeout=20_000)
    page.wait_for_timeout(800)  # auto-pan and fade-in
    popup = box_of(page, ".leaflet-popup")
    controls = page.evaluate(
        """() => Array.from(document.querySelectorAll('.leaflet-control'))
            .filter(e => e.getClientRects().length).map(e => { const r =
            e.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width,
            height: r.height, what: e.className}; })"""
    )
    assert [c["what"] for c in controls if overlap(popup, c)] == [], popup
    page.screenshot(path=str(shots / "desktop-popup.png"))
    page.keyboard.press("Escape")
    # measure: turning the tool off keeps the result; 清除 clears it
    page.click(".ge-measure-btn")
    for dx, dy in ((0, 0), (120, 0), (120, 120)):
        page.mouse.click(700 + dx, 300 + dy)
    measured = page.evaluate("geoEnforce.state.measure")
    assert measured["area_m2"] > 0
    page.click(".ge-measure-btn")
    assert page.evaluate("geoEnforce.state.measure") == measured
    assert "亩" in page.locator(".ge-measure-out").inner_text()
    assert page.locator(".leaflet-overlay-pane path").count() >= 1
    page.screenshot(path=str(shots / "desktop-measure-kept.png"))
    page.click(".ge-measure-clear")
    assert page.evaluate("geoEnforce.state.measure") is None
    assert page.locator(".ge-measure-out").inner_text() == ""
    clean(net)
    page.context.close()


def test_overdue_toggle(browser, server, shots):
    # a notice served with a deadline long past: 逾期
    with transaction(server.factory, "test:overdue") as s:
        s.execute(
            text("UPDATE structure SET deadline_on = '2024-10-01' WHERE case_no = :c"),
            {"c": CLICK_CASE},
        )
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server, viewport=DESKTOP)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    page.check("#ge-f-overdue")
    page.wait_for_function("() => geoEnforce.state.drawn.structure === 1", timeout=10_000)
    days = page.evaluate(
        "(p) => [geoEnforce.overdueDays(p),"
        " geoEnforce.overdueDays({...p, deadline_on: '2999-01-01'}),"
        " geoEnforce.overdueDays({...p, status: 'demolished'})]",
        {"status": "notice_served", "deadline_on": "2024-10-01"},
    )
    assert days[0] > 365 and days[1:] == [0, 0], days
    put_at(page, *CLICK, 900, 450)
    wait_hit(page, *CLICK, "structure")
    page.mouse.click(*map_point(page, *CLICK))
    body = page.locator(".leaflet-popup-content")
    body.wait_for(timeout=20_000)
    assert "拆除期限" in body.inner_text() and "逾期" in body.inner_text()
    page.wait_for_timeout(400)
    page.screenshot(path=str(shots / "desktop-overdue.png"))
    page.uncheck("#ge-f-overdue")
    page.wait_for_function("() => geoEnforce.state.drawn.structure === 8", timeout=10_000)
    clean(net)
    page.context.close()


def test_offline_file_on_a_phone(browser, server: Server, shots, tmp_path):
    from geo_enforce.webmap import export_offline_map

    out = export_offline_map(
        server.factory, tmp_path / "field-map.html", data_dir=server.settings.data_dir
    )
    page, net = open_page(browser, allowed=("file",), phone=True)
    page.goto(out.as_uri(), wait_until="load")
    assert page.evaluate("geoEnforce.config.mode") == "offline"
    wait_drawn(page, ["structure"])
    assert page.locator(".ge-toolbar").is_visible()
    share, _ = covered(page, PHONE)
    assert share <= 0.25, share
    bottom_edge_check(page, PHONE)
    hits = page.evaluate("geoEnforce.search('大任庄村7号').then(r => r.map(h => h.label))")
    assert hits == [f"大任庄村东街7号（{CLICK_CASE}）"]
    assert page.evaluate("geoEnforce.search('大任庄村17号').then(r => r.length)") == 0
    page.screenshot(path=str(shots / "phone-offline.png"))
    clean(net)
    page.context.close()


def test_login_page_keeps_the_token_and_opens_the_map(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), phone=True)
    # no cookie yet: /map sends the browser to the sign-in page
    page.goto(server.url + "/map", wait_until="load")
    assert page.url == server.url + "/map/login?next=%2Fmap"
    assert page.locator("#ge-login-token").is_visible()
    # a next= that leaves the map (another host) is not followed
    page.goto(server.url + "/map/login?next=//evil.example/map", wait_until="load")
    msg = page.locator("#ge-login-message")
    page.fill("#ge-login-token", "not a token")
    page.click("button[type=submit]")
    assert "令牌格式不对" in msg.inner_text()
    page.fill("#ge-login-token", "ge_" + "x" * 43)
    page.click("button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('ge-login-message').textContent.includes('令牌无效')"
    )
    assert not [c for c in page.context.cookies() if c["name"] == "ge_token"]
    page.fill("#ge-login-token", server.token)
    page.screenshot(path=str(shots / "phone-login.png"))
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/map", timeout=30_000)
    wait_drawn(page, ["structure"])
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "ge_token"]
    assert cookie["value"] == server.token and cookie["sameSite"] == "Strict"
    assert not net.blocked, net.blocked
    # the wrong token's /me answered 401: that is the check working, nothing else failed
    assert [f for f in net.failed if "ERR_ABORTED" not in f] == [f"{server.url}/me 401"]
    page.context.close()


def test_service_worker_reloads_the_map_with_no_network(browser, server, shots):
    # no request routing here: Playwright's routing would bypass the service worker
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_navigation_timeout(90_000)
    context.add_cookies([{"name": "ge_token", "value": server.token, "url": server.url}])
    page = context.new_page()
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: (
            elsewhere.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:"))
            else None
        ),
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/map", wait_until="load")
    page.wait_for_function("() => !!navigator.serviceWorker.controller", timeout=30_000)
    assert page.evaluate("geoEnforce.state.worker") == "registered"
    # once through the worker online (it keeps the tiles it passes on), then with no network
    page.reload(wait_until="load")
    wait_drawn(page, ["structure", "change_patch"])
    page.wait_for_load_state("networkidle")
    online = page.evaluate("geoEnforce.state.drawn")
    context.set_offline(True)
    page.reload(wait_until="load")
    wait_drawn(page, ["structure", "change_patch"])
    assert page.evaluate("geoEnforce.config.mode") == "served"
    assert page.evaluate("geoEnforce.state.drawn") == online
    assert page.locator(".ge-toolbar").is_visible()
    page.screenshot(path=str(shots / "phone-offline-reload.png"))
    context.set_offline(False)
    assert not elsewhere, elsewhere
    assert not errors, errors
    context.close()


def test_phone_today_lists_overdue_cases_and_patches_nearest_first_with_a_gpx_route(
    browser, server, shots
):
    with transaction(server.factory, "test:overdue") as s:
        s.execute(
            text("UPDATE structure SET deadline_on = '2024-10-01' WHERE case_no = :c"),
            {"c": CLICK_CASE},
        )
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server, phone=True)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    view = "() => [geoEnforce.map.getCenter(), geoEnforce.map.getZoom()]"
    before = page.evaluate(view)
    page.locator('.ge-tool[data-tool="today"]').tap()
    assert page.locator(".ge-today").is_visible()
    page.locator('.ge-today-btn[data-list="overdue"]').tap()
    # two quick taps on two buttons are not a double tap on the map (it zoomed in once)
    assert page.evaluate(view) == before
    page.wait_for_function("() => geoEnforce.state.today && geoEnforce.state.today.count >= 0")
    today = page.evaluate("geoEnforce.state.today")
    sid = server.seeded.structure_ids[CLICK_CASE]
    assert today == {"which": "overdue", "count": 1, "stops": [f"structure:{sid}"]}
    item = page.locator(".ge-today-item").first
    assert CLICK_CASE in item.inner_text() and "逾期" in item.inner_text()
    assert "按距地图中心由近到远" in page.locator(".ge-today-note").inner_text()
    page.screenshot(path=str(shots / "phone-today.png"))
    # a tap on the case closes the panel and frames it
    item.tap()
    assert not page.locator(".ge-today").is_visible()
    # the zoom to the case starts on the next frame; map_point then waits for it to end
    page.wait_for_function("() => geoEnforce.map.getZoom() === 18")
    x, y = map_point(page, *CLICK)
    assert abs(x - PHONE["width"] / 2) < 2 and abs(y - PHONE["height"] / 2) < 2
    # patches awaiting a field check; the list exports as a GPX route, in the order shown
    page.locator('.ge-tool[data-tool="today"]').tap()
    page.evaluate("geoEnforce.state.today = null")
    page.locator('.ge-today-btn[data-list="patches"]').tap()
    page.wait_for_function("() => geoEnforce.state.today && geoEnforce.state.today.count >= 0")
    today = page.evaluate("geoEnforce.state.today")
    assert today["which"] == "patches"
    assert f"change_patch:{server.seeded.patch_id}" in today["stops"]
    href = page.locator(".ge-today-gpx").get_attribute("href")
    gpx = page.evaluate(
        "(u) => fetch(u, {credentials: 'same-origin'}).then(async r => [r.status, await r.text()])",
        href,
    )
    assert gpx[0] == 200 and "<gpx" in gpx[1] and "CP-2024-0001" in gpx[1]
    clean(net)
    page.context.close()
