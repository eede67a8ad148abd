"""The field map page (served) and the offline export, checked without a browser."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import yaml
from PIL import Image

from api.routers.map import MAP_ROUTES
from geo_enforce.errors import ConfigError, NotFound
from geo_enforce.io.catalogue import DEFAULT_PATH, load_catalogue
from geo_enforce.webmap import MapRoutes, export_offline_map, served_map_html
from geo_enforce.webmap.assets import VENDOR_DIR
from geo_enforce.webmap.styles import load_styles
from tests.conftest import open_to_viewers
from tests.support.mapdata import CLICK_CASE, seed_ledger

#: a tag that would make the browser fetch from another host
EXTERNAL = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I
)


@pytest.fixture
def seeded(sessions, tmp_path):
    return seed_ledger(sessions, tmp_path / "var")


def _config(html: str) -> dict:
    m = re.search(r"geoEnforce\.setup\([^,]+, (\{.*?\})\);\n", html, re.S)
    assert m, "page has no geoEnforce.setup call"
    return json.loads(m.group(1))


def test_served_page_links_only_local_assets(sessions, seeded):
    with sessions() as s:
        html = served_map_html(s, data_dir=seeded.data_dir, routes=MAP_ROUTES)
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "cdn.jsdelivr" not in html and "unpkg" not in html and "cdnjs" not in html
    for asset in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/vectorgrid/",
        "/static/vendor/sidebyside/",
        "/static/vendor/fullscreen/",
        "/static/vendor/locate/",
        "/static/webmap/geoenforce.js",
        "/static/webmap/capture.js",
    ):
        assert asset in html
    cfg = _config(html)
    assert cfg["mode"] == "served"
    assert {v["name"] for v in cfg["villages"]} == {"大任庄村", "小南河村"}
    assert cfg["sinceDate"] == "2023-10-01"  # the flight before the latest
    assert cfg["vocab"]["status"]["notice_served"] == "责令限期拆除"
    # each red-line kind has its own colour and dash pattern
    kinds = cfg["styles"]["red_line"]["values"]
    assert len({(v["color"], v["dashArray"]) for v in kinds.values()}) == len(kinds) == 6
    # both flights as XYZ layers, the latest two in a swipe
    assert html.count("/tiles/ortho/") == 2
    assert "L.control.sideBySide" in html
    # the routes are the API's: the library only fills in what it is given
    assert (cfg["tileUrl"], cfg["chipUrl"], cfg["searchUrl"]) == (
        MAP_ROUTES.tile,
        MAP_ROUTES.chip,
        MAP_ROUTES.search,
    )
    moved = MapRoutes(
        tile="/v2/t/{layer}/{z}/{x}/{y}.pbf",
        ortho="/v2/o/{flight}/{z}/{x}/{y}.png",
        chip="/v2/c/{id}/{which}",
        search="/v2/s",
    )
    with sessions() as s:
        elsewhere = served_map_html(s, data_dir=seeded.data_dir, routes=moved)
    assert _config(elsewhere)["tileUrl"] == moved.tile and "/v2/o/" in elsewhere
    assert "/tiles/ortho/" not in elsewhere


def test_village_narrows_the_page_and_unknown_village_is_named(sessions, seeded):
    with sessions() as s:
        html = served_map_html(s, village="小南河村", data_dir=seeded.data_dir, routes=MAP_ROUTES)
        cfg = _config(html)
        assert cfg["bounds"][0] == pytest.approx(117.21)
        with pytest.raises(NotFound, match=r"village '王庄' not found.*大任庄村"):
            served_map_html(s, village="王庄", data_dir=seeded.data_dir, routes=MAP_ROUTES)


def test_offline_export_inlines_everything(sessions, seeded, tmp_path):
    out = export_offline_map(sessions, tmp_path / "map.html", data_dir=seeded.data_dir, max_zoom=16)
    html = out.read_text("utf-8")
    assert not EXTERNAL.search(html)
    assert "/static/" not in html and "<script src" not in html
    cfg = _config(html)
    assert cfg["mode"] == "offline"
    assert set(cfg["offlineTiles"]) >= {"structure", "red_line", "change_patch", "admin_area"}
    assert any(r["label"] == CLICK_CASE for r in cfg["searchIndex"])
    chips = cfg["chips"][str(seeded.patch_id)]
    assert chips["before"].startswith("data:image/png;base64,")
    assert html.count("geoEnforce.orthoOverview(") == 2


def test_offline_export_refuses_a_huge_extract(sessions, seeded, tmp_path):
    from geo_enforce.errors import TooLarge

    with pytest.raises(TooLarge, match="--village"):
        export_offline_map(
            sessions, tmp_path / "m.html", data_dir=seeded.data_dir, max_zoom=19, max_tiles=100
        )


def _catalogue_with(tmp_path, **styles: str):
    """The packaged catalogue with the ``style:`` block of some layers replaced."""
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    for layer, style in styles.items():
        doc["layers"][layer]["style"] = yaml.safe_load(style)
    cat = tmp_path / "catalogue.yaml"
    cat.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return cat


def test_styles_and_titles_come_from_the_catalogue(tmp_path):
    cat = _catalogue_with(
        tmp_path,
        structure="{by: status, colors: {suspected: '#123456'}}",
        cleared_parcel="{default_color: '#abcdef'}",
    )
    styles = load_styles(cat)
    assert styles["structure"]["values"]["suspected"]["fillColor"] == "#123456"
    assert styles["structure"]["values"]["suspected"]["label"] == "疑似"
    assert styles["cleared_parcel"]["by"] is None and styles["cleared_parcel"]["values"] == {}
    assert styles["cleared_parcel"]["default"]["color"] == "#abcdef"
    # one title per layer: the catalogue's zh, as the sheet, the reports and the tiles show it
    packaged = load_styles(None)
    assert {k: v["title"] for k, v in packaged.items()} == {
        name: spec.zh for name, spec in load_catalogue().layers.items()
    }


def test_catalogue_style_spec_is_honoured(tmp_path):
    cat = _catalogue_with(
        tmp_path,
        red_line="{by: kind, colors: {road: '#010203'}, fill_opacity: 0.2, weight: 4}",
        cleared_parcel="{by: restored_use, colors: {greened: '#00ff00'}, default_color: '#111111'}",
        change_patch="{by: ruling, colors: {illegal: '#ff0000'}}",
    )
    styles = load_styles(cat)
    road = styles["red_line"]["values"]["road"]
    assert road["color"] == "#010203" and road["dashArray"]  # dash pattern kept
    assert styles["red_line"]["default"]["weight"] == 4
    assert styles["cleared_parcel"]["by"] == "restored_use"
    assert styles["cleared_parcel"]["values"]["greened"]["label"] == "复绿"
    assert styles["cleared_parcel"]["default"]["color"] == "#111111"
    # patches are coloured by the ruling, or the suggested one until a person rules
    assert styles["change_patch"]["by"] == "ruling_shown"
    assert styles["change_patch"]["values"]["illegal"]["fillColor"] == "#ff0000"


def test_a_loose_or_missing_catalogue_is_refused_by_name(tmp_path):
    """The map reads the catalogue through the one strict loader: no silent fallback."""
    loose = tmp_path / "loose.yaml"
    loose.write_text("layers:\n  cleared_parcel:\n    style: {color: '#abcdef'}\n", "utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(loose))):
        load_styles(loose)
    with pytest.raises(ConfigError, match=r"absent\.yaml"):
        load_styles(tmp_path / "absent.yaml")


def test_missing_vendor_asset_is_a_clear_error(sessions, seeded, monkeypatch, tmp_path):
    from geo_enforce.webmap import assets

    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path / "empty")
    with sessions() as s, pytest.raises(ConfigError, match=r"install_web_assets\.sh"):
        served_map_html(s, data_dir=seeded.data_dir, routes=MAP_ROUTES)
    assert VENDOR_DIR.is_dir()


def test_map_endpoints(client, settings, sessions):
    seeded = seed_ledger(sessions, settings.data_dir)
    assert client.get("/map").status_code == 401
    open_to_viewers(client)
    r = client.get("/map")
    assert r.status_code == 200 and "geoEnforce.setup" in r.text
    hits = client.get("/map/search", params={"q": "0007"}).json()
    assert hits[0]["label"] == CLICK_CASE and len(hits[0]["bbox"]) == 4
    assert client.get("/map/search", params={"q": "大任"}).json()[0]["kind"] == "village"
    # addresses: a part of one, or a village and a house number (the number on its own)
    for q in ("东街7号", "大任庄村7号", "大任庄 7", "大任庄村 7号"):
        hits = client.get("/map/search", params={"q": q}).json()
        assert [h["label"] for h in hits if h["kind"] == "address"] == [
            f"大任庄村东街7号（{CLICK_CASE}）"
        ], q
    for q in ("大任庄村17号", "小南河村7号", "大任庄村70"):
        assert not [
            h for h in client.get("/map/search", params={"q": q}).json() if h["kind"] == "address"
        ], q
    chip = client.get(f"/map/chips/{seeded.patch_id}/after")
    assert chip.status_code == 200 and chip.headers["content-type"] == "image/png"
    assert client.get(f"/map/chips/{seeded.patch_id}/sideways").status_code == 404
    js = client.get("/static/vendor/leaflet/leaflet.js")
    assert js.status_code == 200 and "max-age" in js.headers["cache-control"]
    assert client.get("/static/vendor/../../../settings.py").status_code == 404
    assert client.get("/static/webmap/geoenforce.js").status_code == 200


def test_basemaps_only_when_configured(sessions, seeded):
    from pydantic import SecretStr

    from geo_enforce.settings import MapSettings

    with sessions() as s:
        plain = served_map_html(
            s, data_dir=seeded.data_dir, map_settings=MapSettings(), routes=MAP_ROUTES
        )
        both = served_map_html(
            s,
            data_dir=seeded.data_dir,
            routes=MAP_ROUTES,
            map_settings=MapSettings(osm_basemap=True, tianditu_key=SecretStr("k123")),
        )
    assert "tianditu" not in plain and "openstreetmap" not in plain.lower()
    assert "tianditu.gov.cn/img_w/wmts" in both and "tk=k123" in both
    assert json.dumps("底图：OpenStreetMap") in both and json.dumps("底图：天地图影像") in both
    # off at start: the layers are created but never added to the map
    for name in re.findall(r"var (tile_layer_\w+) = L\.tileLayer\(\s*\"https://", both):
        assert f"{name}.addTo(" not in both


def test_login_page_and_installable_app(client, settings, sessions):
    # /map/login is open and runs no inline script (CSP: scripts from this origin only)
    r = client.get("/map/login")
    assert r.status_code == 200 and 'id="ge-login-token"' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "sha256-" not in csp
    assert '<script src="/static/webmap/login.js" defer></script>' in r.text
    assert "<script>" not in r.text
    assert client.get("/static/webmap/login.js").status_code == 200
    # the service worker, manifest and icons are open too (no ledger data)
    sw = client.get("/map/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["service-worker-allowed"] == "/map"
    assert sw.headers["content-security-policy"] == "default-src 'none'; connect-src 'self'"
    found = re.search(r"var SHELL = (\[.*?\]);", sw.text)
    assert found, "the worker names no app shell"
    shell = json.loads(found.group(1))
    assert shell[0] == "/map" and "/static/webmap/geoenforce.js" in shell
    assert "/static/webmap/capture.js" in shell  # the 巡查 form works offline
    assert "/static/vendor/leaflet/images/layers.png" in shell
    for url in shell[1:]:
        assert client.get(url).status_code == 200, url
    manifest = client.get("/map/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert (body["start_url"], body["scope"], body["display"]) == ("/map", "/map", "standalone")
    for icon in body["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(png.content)) as img:
            assert f"{img.width}x{img.height}" == icon["sizes"]
    assert client.get("/map/icons/100.png").status_code == 404
    # a browser opening the map with no token is sent to the sign-in page, and back after it
    r = client.get("/map?village=大任庄村", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303
    location = urlsplit(r.headers["location"])
    assert location.path == "/map/login"
    assert parse_qs(location.query)["next"] == ["/map?village=" + quote("大任庄村")]
    assert client.get("/map/search", headers={"Accept": "text/html"}).status_code == 401
    assert client.get("/map").status_code == 401  # not a browser page load: the JSON error
    # the served page links the manifest and registers the worker
    seed_ledger(sessions, settings.data_dir)
    open_to_viewers(client)
    page = client.get("/map").text
    assert '<link rel="manifest" href="/map/manifest.webmanifest">' in page
    assert _config(page)["worker"] == {"url": "/map/sw.js", "scope": "/map"}
