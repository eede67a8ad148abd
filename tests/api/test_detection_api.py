"""Flights, detection runs and change patches through the API (TestClient, PostGIS)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from geo_enforce.access import auth
from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from geo_enforce.storage.models import Flight


@pytest.fixture
def tokens(settings):
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    out = {}
    with transaction(factory, "test") as s:
        for role in ("viewer", "editor", "admin"):
            auth.create_user(s, f"u_{role}", role)
            out[role], _ = auth.issue_token(s, f"u_{role}", ttl_days=1)
    yield {k: {"Authorization": f"Bearer {v}"} for k, v in out.items()}, factory
    engine.dispose()


def _upload(client, headers, ortho, dsm, day, name):
    files = {"ortho": ("o.tif", ortho.read_bytes(), "image/tiff")}
    if dsm is not None:
        files["dsm"] = ("d.tif", dsm.read_bytes(), "image/tiff")
    return client.post(
        "/flights", headers=headers, files=files, data={"flown_on": day, "name": name}
    )


def test_flights_runs_and_patches_over_http(client, tokens, tmp_path):
    headers, _ = tokens
    pair = synthetic_pair(tmp_path, seed=41, size_px=(480, 480))
    r = _upload(client, headers["viewer"], pair.before_ortho, pair.before_dsm, "2024-04-01", "b")
    assert r.status_code == 403
    r = _upload(client, headers["editor"], pair.before_ortho, pair.before_dsm, "2024-04-01", "b")
    assert r.status_code == 403  # flights are registered by admins (route-policy table)
    r = _upload(client, headers["admin"], pair.before_ortho, pair.before_dsm, "2024-04-01", "b")
    assert r.status_code == 201, r.text
    assert r.json()["has_dsm"] and r.json()["stac"]["assets"]["dsm"]
    r = _upload(client, headers["admin"], pair.after_ortho, pair.after_dsm, "2024-06-01", "a")
    assert r.status_code == 201, r.text
    listed = client.get("/flights", headers=headers["viewer"]).json()
    assert [f["name"] for f in listed] == ["b", "a"]

    r = client.post(
        "/detection-runs", headers=headers["editor"], json={"before": "b", "after": "a"}
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    run = client.get(f"/detection-runs/{run_id}", headers=headers["viewer"]).json()
    assert run["status"] == "done", run  # the background task ran after the response
    assert run["status_label"] == "完成" and run["summary"]["patches"] >= 3

    fc = client.get("/patches", params={"run_id": run_id}, headers=headers["viewer"]).json()
    assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == run["summary"]["patches"]
    feat = fc["features"][0]
    props = feat["properties"]
    assert feat["geometry"]["type"] == "MultiPolygon"
    assert props["status"] == "new" and props["status_label"] == "待核查"
    assert props["suggested_ruling_label"] in ("违法", "合法", "其他")
    one = client.get(f"/patches/{feat['id']}", headers=headers["viewer"]).json()
    assert one["properties"]["code"] == props["code"]
    chip = client.get(props["chip_after_url"], headers=headers["viewer"])
    assert chip.status_code == 200 and chip.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(chip.content)).format == "PNG"
    assert client.get(props["chip_after_url"]).status_code == 401

    r = client.post("/flights/b/retire", headers=headers["editor"], json={"reason": "重飞"})
    assert r.status_code == 403  # and retired by admins
    r = client.post("/flights/b/retire", headers=headers["admin"], json={"reason": "重飞"})
    assert r.status_code == 200 and r.json()["retired"]


def test_bad_uploads_are_refused_and_nothing_stored(client, tokens, tmp_path, settings):
    headers, factory = tokens
    png = tmp_path / "x.png"
    Image.new("RGB", (32, 32)).save(png)
    r = _upload(client, headers["admin"], png, None, "2024-04-01", "x")
    assert r.status_code == 422 and "error" in r.json()
    truncated = tmp_path / "t.tif"
    pair = synthetic_pair(tmp_path / "p", seed=42, size_px=(128, 128), with_dsm=False)
    data = pair.before_ortho.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    r = _upload(client, headers["admin"], truncated, None, "2024-04-01", "t")
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "truncated" in message or "readable" in message
    # the refusal names the uploaded file, never where the server keeps it (issue 13)
    assert "'o.tif'" in message, message
    for server_path in (str(settings.data_dir), "uploads/tmp", "flight-", "ortho.tif"):
        assert server_path not in message, message
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Flight)) == 0
    r = client.post(
        "/detection-runs", headers=headers["editor"], json={"before": "9", "after": "x"}
    )
    assert r.status_code == 404
    # an id beyond bigint is a patch that does not exist: 404, like any unknown id
    r = client.get("/patches/99999999999999999999", headers=headers["viewer"])
    assert r.status_code == 404, r.text
    assert "99999999999999999999" in r.json()["error"]["message"]
