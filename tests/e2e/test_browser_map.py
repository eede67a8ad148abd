"""The field map in real headless Chromium (Debian's), with the network closed.

The API runs on a loopback port (uvicorn in a thread) over a real PostGIS seeded with
``tests/support/mapdata``; every request to anything but that server (or, offline, to anything
but the file itself) is aborted and recorded (``tests/support/browser.py``, fixtures in
``tests/e2e/conftest.py``). Screenshots go to ``test-artifacts/map/``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import (
    CHROMIUM,
    Net,
    Server,
    map_point,
    non_blank,
    open_page,
    show_only,
    wait_drawn,
)
from tests.support.mapdata import CLICK_BOX, CLICK_CASE, X0, Y0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]
LAYERS = [
    "structure",
    "cleared_parcel",
    "red_line",
    "farmland_parcel",
    "change_patch",
    "admin_area",
    "pipeline",  # last: it is framed closer (a line is thin at the overview zoom)
]
#: the seeded gas main (tests/support/mapdata.py): its middle
GAS_LON, GAS_LAT = X0 + 0.01, Y0 - 0.002


def check_layers_and_popup(page, net: Net, server: Server, shots: Path, tag: str) -> None:
    state = wait_drawn(page, ["structure", "cleared_parcel", "red_line", "change_patch"])
    assert state["tileErrors"] == 0
    page.wait_for_load_state("networkidle")
    # the opening view asked for the structures first; once they loaded, every layer's tiles
    # are asked for at normal priority again (served: fetch priority; offline: no fetch)
    page.wait_for_function("() => !!geoEnforce.state.loaded.structure", timeout=20_000)
    assert page.evaluate(
        "Object.values(geoEnforce.layers).every(l => !(l.options.fetchOptions || {}).priority)"
    )
    # the page as loaded: nothing failed, nothing tried to leave the machine
    assert not net.failed, net.failed
    assert not net.blocked, net.blocked
    page.screenshot(path=str(shots / f"{tag}-overview.png"))
    show_only(page, None)
    page.wait_for_timeout(300)
    blank = non_blank(page.screenshot(path=str(shots / f"{tag}-layer-none.png")))
    assert blank < 50, f"the bare map is not blank ({blank} pixels)"
    for layer in LAYERS:
        show_only(page, layer)
        if layer == "pipeline":  # 1.7 km of 3 px line: frame it at zoom 17, with its zone
            page.evaluate(
                "([lat, lon]) => geoEnforce.map.setView([lat, lon], 17, {animate: false})",
                [GAS_LAT, GAS_LON],
            )
            page.wait_for_function(
                "() => { const l = geoEnforce.layers.pipeline;"
                " return (geoEnforce.state.drawn.pipeline_zone || 0) > 0"
                " && !l.isLoading() && !l.geZone.isLoading(); }",
                timeout=20_000,
            )
        wait_drawn(page, [layer])
        # the canvas may paint a little after the tiles report drawn on a loaded machine (seen
        # in fresh clones sharing two cores): look again for up to 10 s before failing
        for _ in range(20):
            png = page.screenshot(path=str(shots / f"{tag}-layer-{layer}.png"))
            if non_blank(png) > 1000:
                break
            page.wait_for_timeout(500)
        assert non_blank(png) > 1000, f"{layer} drew nothing visible"
    # the gas main's safety zone: 5 m each side at zoom 17 (0.93 m per pixel at 39°N) is a band
    # about 11 px across the 3 px line, in the line's colour
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    gx, gy = (round(v) for v in map_point(page, GAS_LON, GAS_LAT))
    column = np.abs(img[gy - 20 : gy + 20, gx] - 221).max(axis=1) > 30
    assert 9 <= int(column.sum()) <= 14, int(column.sum())
    # a line's popup: a click on the gas main (still framed) names it, its kind, its safety
    # distance (the catalogue's for gas: the line has none of its own) and its owner
    page.mouse.click(*map_point(page, GAS_LON + 0.001, GAS_LAT))
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=20_000)
    body = popup.inner_text()
    assert "燃气干管" in body and "燃气管线" in body, body
    assert "安全距离" in body and "5.0 m（按类型）" in body and "权属单位" in body, body
    page.evaluate("geoEnforce.map.closePopup()")
    # popup: click the middle of the known structure at a close zoom
    show_only(page, "structure")
    lon, lat = (CLICK_BOX[0] + CLICK_BOX[2]) / 2, (CLICK_BOX[1] + CLICK_BOX[3]) / 2
    # (off the map's centre, where the swipe control's thumb sits)
    page.evaluate(
        "([lat, lon]) => geoEnforce.map.setView([lat, lon], 17, {animate: false})"
        ".panBy([250, 150], {animate: false})",
        [lat, lon],
    )
    page.wait_for_timeout(500)
    wait_drawn(page, ["structure"])
    page.wait_for_function(  # the case is hit-testable where the click will land
        "([lat, lon, no]) => { const h = geoEnforce.hitTest(L.latLng(lat, lon));"
        " return !!h && h.layer === 'structure' && h.props.case_no === no; }",
        arg=[lat, lon, CLICK_CASE],
        timeout=30_000,
    )
    x, y = map_point(page, lon, lat)
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=20_000)
    body = popup.inner_text()
    page.wait_for_timeout(400)  # the popup fades in
    page.screenshot(path=str(shots / f"{tag}-popup.png"))
    assert CLICK_CASE in body
    m2 = f"{server.area['m2']:,.2f} m²"
    mu = f"{server.area['mu']:,.2f} 亩"
    assert m2 in body and mu in body, body
    assert "责令限期拆除" in body and "违建别墅" in body and "大任庄村" in body
    assert page.evaluate("geoEnforce.state.lastPopup.id") == server.seeded.structure_ids[CLICK_CASE]
    # a change patch: ruling (suggested), rule hits and the before/after chips, loaded
    show_only(page, "change_patch")
    plon, plat = X0 + 0.0064, Y0 + 0.00285
    page.evaluate(
        "([lat, lon]) => geoEnforce.map.setView([lat, lon], 17, {animate: false})"
        ".panBy([-250, 150], {animate: false})",
        [plat, plon],
    )
    wait_drawn(page, ["change_patch"])
    page.mouse.click(*map_point(page, plon, plat))
    page.wait_for_function(
        "() => { const c = document.querySelectorAll('.leaflet-popup-content img.ge-chip');"
        " return c.length === 2 && Array.from(c).every(i => i.complete && i.naturalWidth > 0); }",
        timeout=5000,
    )
    page.wait_for_timeout(400)  # the structure's popup fades out
    body = page.locator(".leaflet-popup-content").last.inner_text()
    assert "CP-2024-0001" in body and "违法（建议）" in body and "3.4 m" in body
    assert "新增建设占用非建设用地；占用永久基本农田" in body
    page.wait_for_timeout(400)
    page.screenshot(path=str(shots / f"{tag}-popup-patch.png"))
    assert not net.blocked, net.blocked
    # removing a layer mid-load cancels its pending tiles (ERR_ABORTED): not a failure
    assert not [f for f in net.failed if "ERR_ABORTED" not in f], net.failed
    assert not net.console_errors, net.console_errors


def test_served_page_draws_every_layer_and_opens_popups(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server)
    page.goto(server.url + "/map", wait_until="load")
    assert page.evaluate("typeof L.vectorGrid.protobuf") == "function"
    check_layers_and_popup(page, net, server, shots, "served")
    page.close()


def test_swipe_moves_between_flights(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    divider = page.locator(".leaflet-sbs-divider")
    before = divider.evaluate("d => parseFloat(d.style.left)")
    rng = page.locator(".leaflet-sbs-range").bounding_box()
    cx, cy = rng["x"] + rng["width"] / 2, rng["y"] + rng["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 300, cy, steps=8)
    page.mouse.up()
    after = divider.evaluate("d => parseFloat(d.style.left)")
    page.screenshot(path=str(shots / "served-swipe.png"))
    assert after < before - 200, (before, after)
    page.wait_for_timeout(300)
    assert page.evaluate("geoEnforce.state.popups") == 0  # dragging the handle picks nothing
    clip = page.evaluate(
        "() => { const c = document.querySelectorAll('.leaflet-tile-pane .leaflet-layer');"
        " return Array.from(c).map(e => e.style.clip).filter(Boolean); }"
    )
    assert len(clip) == 2, clip  # the before and after orthophotos are clipped at the divider
    # choose the pair: swap them, and the 2024 flight takes the left side's clip
    f23, f24 = server.seeded.flight_ids
    clip_of = "(id) => geoEnforce.orthoLayers[id].getContainer().style.clip"
    left_clip = page.evaluate(clip_of, f23)
    page.select_option("#ge-swipe-left", str(f24))
    page.select_option("#ge-swipe-right", str(f23))
    assert page.evaluate("geoEnforce.state.swipe") == [f24, f23]
    assert page.evaluate(clip_of, f24) == left_clip
    assert page.evaluate(clip_of, f23) != left_clip
    assert not net.failed and not net.blocked
    page.close()


def test_search_filters_and_measure(browser, server, shots):
    page, net = open_page(browser, allowed=("127.0.0.1",), server=server)
    page.goto(server.url + "/map", wait_until="load")
    wait_drawn(page, ["structure"])
    page.fill("#ge-search", "0007")
    page.press("#ge-search", "Enter")
    page.locator(".ge-search-hit").first.wait_for(timeout=20_000)
    assert page.locator(".ge-search-hit").first.inner_text() == CLICK_CASE
    # filter by status: only the one suspected structure is drawn
    page.select_option("#ge-f-status", "suspected")
    page.wait_for_function("() => geoEnforce.state.drawn.structure === 1", timeout=10_000)
    page.select_option("#ge-f-status", "")
    # since the flight before the latest (2023-10-01): the four structures found in 2024
    page.check("#ge-f-since")
    page.wait_for_function("() => geoEnforce.state.drawn.structure === 4", timeout=10_000)
    page.uncheck("#ge-f-since")
    page.wait_for_function("() => geoEnforce.state.drawn.structure === 8", timeout=10_000)
    # measure a ~100 m square: about 10,000 m² = 15 亩
    page.click(".ge-measure-btn")
    page.evaluate(
        """() => { const c = [117.205, 39.005], d = 100 / 111320,
                   e = d / Math.cos(39.005 * Math.PI / 180);
          geoEnforce.measureAdd(c[1], c[0]); geoEnforce.measureAdd(c[1], c[0] + e);
          geoEnforce.measureAdd(c[1] + d, c[0] + e); geoEnforce.measureAdd(c[1] + d, c[0]); }"""
    )
    measured = page.evaluate("geoEnforce.state.measure")
    assert measured["area_m2"] == pytest.approx(10_000, rel=0.01)
    assert measured["area_mu"] == pytest.approx(15, rel=0.01)
    assert "亩" in page.locator(".ge-measure-out").inner_text()
    page.mouse.move(600, 400)
    assert "高斯-克吕格 39 带" in page.locator(".ge-mousepos").inner_text()
    page.screenshot(path=str(shots / "served-measure.png"))
    assert not net.failed and not net.blocked
    page.close()


def test_offline_html_works_from_file_url(browser, server, shots, tmp_path):
    from geo_enforce.webmap import export_offline_map

    out = export_offline_map(
        server.factory, tmp_path / "field-map.html", data_dir=server.settings.data_dir
    )
    page, net = open_page(browser, allowed=("file",))
    page.goto(out.as_uri(), wait_until="load")
    assert page.evaluate("geoEnforce.config.mode") == "offline"
    # the downsampled orthophotos are drawn by the page itself, and swipe still works
    assert page.locator(".leaflet-sbs-divider").count() == 1
    check_layers_and_popup(page, net, server, shots, "offline")
    # search works from the page's own index
    hits = page.evaluate("geoEnforce.search('0007').then(r => r.map(h => h.label))")
    assert hits == [CLICK_CASE]
    assert page.evaluate("geoEnforce.search('大任').then(r => r[0].kind)") == "village"
    page.close()
