"""Campaigns (专项治理) and line rules over HTTP: editors write, viewers read, admins retire;
edits need the version they read; bodies validated against the response models."""

from __future__ import annotations

from typing import Any

import pytest

from api.routers.campaigns import CampaignOut, TaggedOut, TagResultOut
from api.routers.pipelines import HitsOut, RuleOut
from tests.conftest import bearer_headers
from tests.support.campaign_seed import seed

BODY: dict[str, Any] = {
    "code": "WJBS-2024",
    "name": "违建别墅专项治理",
    "starts_on": "2024-01-01",
    "ends_on": "2024-12-31",
    "target_count": 2,
    "count_unit": "household",
    "scope_categories": ["villa"],
}


@pytest.fixture
def users(client):
    seed(client.app.state.sessions)
    viewer, editor, admin = bearer_headers(
        client.app.state.sessions, ("v", "viewer"), ("e", "editor"), ("a", "admin")
    )
    return viewer, editor, admin


def test_editor_writes_viewer_reads(client, users):
    viewer, editor, _ = users
    assert client.post("/campaigns", json=BODY, headers=viewer).status_code == 403
    r = client.post("/campaigns", json=BODY, headers=editor)
    assert r.status_code == 201, r.text
    made = CampaignOut.model_validate(r.json())
    assert r.headers["ETag"] == '"1"' and made.progress.tagged_count == 0
    bad = client.post("/campaigns", json={**BODY, "code": "X", "scope_rules": ["nope"]},
                      headers=editor)  # fmt: skip
    assert bad.status_code == 422 and "scope rule 'nope' is unknown" in bad.text
    assert client.post("/campaigns", json=BODY, headers=editor).status_code == 409

    assert client.post("/campaigns/WJBS-2024/apply-scope", headers=viewer).status_code == 403
    r = client.post("/campaigns/WJBS-2024/apply-scope", headers=editor)
    assert TagResultOut.model_validate(r.json()).added == ["W1", "W2", "W3"]
    tag = {"case_no": "S1", "reason": "附属彩钢房一并治理"}
    assert client.post("/campaigns/WJBS-2024/cases", json=tag, headers=viewer).status_code == 403
    r = client.post("/campaigns/WJBS-2024/cases", json=tag, headers=editor)
    assert r.status_code == 201, r.text
    t = TaggedOut.model_validate(r.json())
    assert (t.method, t.method_label, t.tagged_by) == ("hand", "人工标记", "api:e")
    r = client.post("/campaigns/WJBS-2024/cases/W3/untag", json={"reason": "不属于别墅"},
                    headers=editor)  # fmt: skip
    assert r.status_code == 204

    cases = client.get("/campaigns/WJBS-2024/cases", headers=viewer)
    assert [TaggedOut.model_validate(c).case_no for c in cases.json()] == ["S1", "W1", "W2"]
    one = client.get("/campaigns/WJBS-2024", params={"as_of": "2024-12-31"}, headers=viewer)
    p = CampaignOut.model_validate(one.json()).progress
    assert (p.done_households, p.met, p.state_label) == (2, True, "已完成")
    listed = client.get("/campaigns", params={"as_of": "2024-05-15"}, headers=viewer).json()
    assert [CampaignOut.model_validate(c).progress.share for c in listed] == [0.5]
    png = client.get("/campaigns/progress.png", headers=viewer)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:4] == b"\x89PNG"


def test_edits_need_the_version_and_retire_is_for_admins(client, users):
    viewer, editor, admin = users
    client.post("/campaigns", json=BODY, headers=editor)
    change = {"target_m2": 800.0}
    assert client.patch("/campaigns/WJBS-2024", json=change, headers=viewer).status_code == 403
    assert client.patch("/campaigns/WJBS-2024", json=change, headers=editor).status_code == 428
    r = client.patch("/campaigns/WJBS-2024", json=change, headers={**editor, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["target_m2"] == 800.0 and r.headers["ETag"] == '"2"'
    stale = client.patch("/campaigns/WJBS-2024", json=change, headers={**editor, "If-Match": '"1"'})
    assert stale.status_code == 409
    retire = {"reason": "并入三年拆违", "version": 2}
    assert (
        client.post("/campaigns/WJBS-2024/retire", json=retire, headers=editor).status_code == 403
    )
    assert client.post("/campaigns/WJBS-2024/retire", json=retire, headers=admin).status_code == 200
    assert client.get("/campaigns/WJBS-2024", headers=viewer).status_code == 404


def test_line_rules_and_hits_for_viewers(client, users):
    viewer, _, _ = users
    assert client.get("/pipelines/hits").status_code == 401
    rules = [
        RuleOut.model_validate(r) for r in client.get("/pipelines/rules", headers=viewer).json()
    ]
    assert (rules[0].rule, rules[0].label, rules[0].safety_distance_m) == (
        "encroach_gas",
        "占压燃气管线",
        5.0,
    )
    r = client.get("/pipelines/hits", params={"kind": "gas"}, headers=viewer)
    body = HitsOut.model_validate(r.json())
    assert [(h.target_code, h.line_code) for h in body.hits] == [("S1", "RQ-1"), ("W1", "RQ-1")]
    assert body.hits[0].distance_m == pytest.approx(2.0, abs=1e-3)
    assert [h.status_label for h in body.hits] == ["疑似", "已拆除"]
    none = client.get("/pipelines/hits", params={"target": "change_patch"}, headers=viewer)
    assert HitsOut.model_validate(none.json()).count == 0
    assert client.get("/pipelines/hits", params={"kind": "pipe"}, headers=viewer).status_code == 422
    items = client.get("/collections/pipeline/items", headers=viewer).json()
    assert items["features"][0]["properties"]["kind_label"] == "燃气管线"
    assert items["features"][0]["geometry"]["type"] == "MultiLineString"
