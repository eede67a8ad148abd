"""QGIS layer styles, MapLibre styles and TileJSON, all from the web map's one style definition
(built-in styles + the layer catalogue): the same colours and Chinese labels in each."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from geo_enforce.tiles.mvt import MVT_LAYERS
from geo_enforce.webmap.styles import default_catalogue_path, load_styles
from tests.conftest import bearer_headers
from tests.support.mapdata import X0, Y0, seed_ledger


@pytest.fixture
def viewer(client, sessions, tmp_path):
    seed_ledger(sessions, tmp_path / "var", flights=False)
    (headers,) = bearer_headers(sessions, ("styles_viewer", "viewer"))
    return headers


def _rgba(hex_color: str, opacity: float) -> str:
    c = hex_color.lstrip("#")
    return f"{int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{round(255 * opacity)}"


def test_qml_matches_the_map_style(client, viewer):
    styles = load_styles(default_catalogue_path())
    r = client.get("/styles/structure.qml", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content.decode("utf-8").split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("type") == "categorizedSymbol"
    assert renderer.get("attr") == styles["structure"]["by"] == "status"
    symbols = {s.get("name"): s for s in renderer.iter("symbol")}
    cats = {c.get("value"): c for c in renderer.iter("category")}
    style = styles["structure"]
    opacity = style["default"]["fillOpacity"]
    for value, entry in style["values"].items():
        cat = cats[value]
        assert cat.get("label") == entry["label"]  # 已拆除, not demolished
        props = {p.get("k"): p.get("v") for p in symbols[cat.get("symbol")].iter("prop")}
        assert props["color"] == _rgba(entry["fillColor"], opacity)
    assert cats["demolished"].get("label") == "已拆除"
    assert "" in cats  # everything else: the default symbol

    # a change patch is coloured by its ruling, else the suggested one (as the tiles' ruling_shown)
    patch = ET.fromstring(
        client.get("/styles/change_patch.qml", headers=viewer).content.decode().split("\n", 1)[1]
    )
    patch_renderer = patch.find("renderer-v2")
    assert patch_renderer is not None
    assert patch_renderer.get("attr") == 'coalesce("ruling", "suggested_ruling")'
    assert client.get("/styles/nope.qml", headers=viewer).status_code == 404
    assert client.get("/styles/structure.qml").status_code == 401


def test_maplibre_style_and_tilejson(client, viewer):
    styles = load_styles(default_catalogue_path())
    style = client.get("/styles/all.json", headers=viewer).json()
    assert style["version"] == 8 and set(style["sources"]) == set(MVT_LAYERS)
    fill = next(lyr for lyr in style["layers"] if lyr["id"] == "structure-fill")
    expr = fill["paint"]["fill-color"]
    assert expr[0] == "match" and expr[1] == ["to-string", ["get", "status"]]
    pairs = dict(zip(expr[2:-1:2], expr[3:-1:2], strict=True))
    for value, entry in styles["structure"]["values"].items():
        assert pairs.get(value, expr[-1]) == entry["fillColor"]
    src = style["sources"]["structure"]["tiles"][0]
    assert src.endswith("/tiles/structure/{z}/{x}/{y}.pbf")
    one = client.get("/styles/red_line.json", headers=viewer).json()
    assert list(one["sources"]) == ["red_line"]
    assert client.get("/styles/nope.json", headers=viewer).status_code == 404

    tj = client.get("/tiles/structure.json", headers=viewer).json()
    assert tj["tilejson"] == "3.0.0" and tj["tiles"][0] == src
    west, south, east, north = tj["bounds"]
    assert west <= X0 + 0.0005 <= east and south <= Y0 + 0.001 <= north
    fields = tj["vector_layers"][0]["fields"]
    assert fields["status"] == "处置状态" and fields["village_name"] == "所属村"
    # the tile URL the TileJSON names serves the layer
    z, x, y = 14, 13524, 6260
    url = tj["tiles"][0].format(z=z, x=x, y=y).split("testserver", 1)[1]
    assert client.get(url, headers=viewer).status_code == 200


def test_line_layer_styles_draw_lines(client, viewer):
    """The pipeline layer (lines): QGIS gets line symbols, MapLibre a line layer, both in the
    catalogue's colours by kind with the Chinese kind names; TileJSON lists its fields."""
    styles = load_styles(default_catalogue_path())
    style = styles["pipeline"]
    assert style["geometry"] == "line" and style["by"] == "kind"
    assert style["values"]["gas"]["label"] == "燃气管线"  # not the red-line kinds' labels
    assert style["safety_distances_m"]["gas"] == 5.0
    root = ET.fromstring(
        client.get("/styles/pipeline.qml", headers=viewer).content.decode().split("\n", 1)[1]
    )
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("attr") == "kind"
    symbols = {s.get("name"): s for s in renderer.iter("symbol")}
    assert {s.get("type") for s in symbols.values()} == {"line"}
    cats = {c.get("value"): c for c in renderer.iter("category")}
    for kind, entry in style["values"].items():
        assert cats[kind].get("label") == entry["label"]
        sym = symbols[cats[kind].get("symbol")]
        assert [lyr.get("class") for lyr in sym.iter("layer")] == ["SimpleLine"]
        props = {p.get("k"): p.get("v") for p in sym.iter("prop")}
        assert props["line_color"] == _rgba(entry["color"], style["default"]["opacity"])

    ml = client.get("/styles/all.json", headers=viewer).json()
    ids = [lyr["id"] for lyr in ml["layers"]]
    assert "pipeline-line" in ids and "pipeline-fill" not in ids
    assert ids.index("pipeline-line") < ids.index("structure-fill")  # drawn under structures
    line = next(lyr for lyr in ml["layers"] if lyr["id"] == "pipeline-line")
    expr = line["paint"]["line-color"]
    assert expr[1] == ["to-string", ["get", "kind"]]
    assert dict(zip(expr[2:-1:2], expr[3:-1:2], strict=True))["power"] == "#7b1fa2"

    tj = client.get("/tiles/pipeline.json", headers=viewer).json()
    fields = tj["vector_layers"][0]["fields"]
    assert fields["safety_distance_m"] == "安全距离" and fields["owner"] == "权属单位"
    assert "kind_label" in fields and tj["tiles"][0].endswith("/tiles/pipeline/{z}/{x}/{y}.pbf")
