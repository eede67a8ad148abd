"""The offline field map of the loaded sample township (the demo's call), end to end."""

from __future__ import annotations

import json
import re

from geo_enforce.demo.sample import VILLAGES, load_township
from geo_enforce.webmap import write_sample_map


def test_sample_township_map(sessions, tmp_path):
    counts = load_township(sessions)
    path = write_sample_map(sessions, tmp_path / "out", data_dir=tmp_path / "var")
    assert path == tmp_path / "out" / "field-map.html"
    html = path.read_text("utf-8")
    found = re.search(r"geoEnforce\.setup\([^,]+, (\{.*?\})\);\n", html, re.S)
    assert found is not None, "the page hands no configuration to geoEnforce.setup"
    cfg = json.loads(found.group(1))
    names = {v["name"] for v in cfg["villages"]}
    assert set(VILLAGES) <= names
    structures = [r for r in cfg["searchIndex"] if r["kind"] == "structure"]
    assert len(structures) == counts["structure"]
    for layer in ("structure", "red_line", "cleared_parcel", "farmland_parcel", "admin_area"):
        assert cfg["offlineTiles"].get(layer), layer
    # one village only: a smaller extract, framed on that village
    one = write_sample_map(
        sessions, tmp_path / "out", data_dir=tmp_path / "var", village=VILLAGES[0]
    )
    assert one.name == f"field-map-{VILLAGES[0]}.html"
    assert one.stat().st_size < path.stat().st_size


def test_demo_map_hook(sessions, settings, tmp_path):
    from geo_enforce.demo.webmap import write_demo_map

    load_township(sessions)
    out = write_demo_map(sessions, settings, tmp_path / "demo" / "map.html")
    assert out == tmp_path / "demo" / "map.html"
    assert '"mode": "offline"' in out.read_text("utf-8")
