"""The offline field map of the loaded sample township (the demo's call), end to end."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from geo_enforce.demo.sample import TOWN_NAME, VILLAGES, load_township
from geo_enforce.webmap import write_sample_map
from geo_enforce.webmap.data import number_in_place, search


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
    addresses = [r for r in cfg["searchIndex"] if r["kind"] == "address"]
    assert addresses and all(r["address"] and r["village"] for r in addresses)
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


def test_sample_addresses_are_found_by_village_and_house_number(sessions):
    """Issue 15: ``梨园头村337号`` found nothing; addresses are ``<town><village><n>号``."""
    load_township(sessions)
    with sessions() as s:
        address, case_no = s.execute(
            text(
                "SELECT t.address, t.case_no FROM structure t JOIN admin_area v"
                " ON v.code = t.village_code WHERE v.name = '梨园头村' AND t.retired_at IS NULL"
                " ORDER BY t.case_no LIMIT 1"
            )
        ).one()
        found = re.search(r"(\d+)号$", address)
        assert found, address
        number = found.group(1)
        assert address == f"{TOWN_NAME}梨园头村{number}号"
        for q in (f"梨园头村{number}号", f"梨园头 {number}", address):
            labels = [h["label"] for h in search(s, q, limit=50) if h["kind"] == "address"]
            assert f"{address}（{case_no}）" in labels, q
            assert all("梨园头村" in lbl and re.search(rf"\D{number}号", lbl) for lbl in labels)
        # a number that is a part of another (337 in 1337) is not that house
        assert not [h for h in search(s, f"梨园头村{number}9号") if h["label"].startswith(address)]
    assert number_in_place("梨园头村337号") == ("梨园头村", "337")
    assert number_in_place("梨园头村") is None
