"""Stock and increment (存量/增量), stopped construction (制止) and notice deadlines (期限):
library, API, CLI and the annual report's figures, on real PostGIS."""

from __future__ import annotations

import datetime as dt

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from geo_enforce.errors import IllegalTransition, InvalidInput, NotFound
from geo_enforce.io.sanity import beijing_today
from geo_enforce.ledger import deadlines, lifecycle, stock
from geo_enforce.ledger import edits as ledger
from geo_enforce.reports.annual import build_annual
from geo_enforce.reports.digest import digest_text
from geo_enforce.reports.query import AreaQuery, area_totals
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AdminArea, AuditLog
from tests.conftest import bearer_headers, grant_townships
from tests.support.geometries import X0, Y0

TOWN, OTHER_TOWN, VILLAGE = "120111100000", "120111200000", "120111100201"
BASE = dt.date(2023, 6, 30)


def _sq(i: int, dx: float = 0.0) -> MultiPolygon:
    x = X0 + dx + 0.002 * i
    return MultiPolygon([box(x, Y0, x + 0.0005, Y0 + 0.0005)])


def _seed(factory) -> None:
    """Two towns side by side (the second without a base date), one village in the first."""
    with transaction(factory, "test:seed") as s:
        s.add(AdminArea(code=TOWN, name="测试镇", level="town",
                        geom=from_shape(MultiPolygon([box(X0 - 0.01, Y0 - 0.01, X0 + 0.1,
                                                          Y0 + 0.1)]), 4490)))  # fmt: skip
        s.add(AdminArea(code=OTHER_TOWN, name="邻镇", level="town",
                        geom=from_shape(MultiPolygon([box(X0 + 0.1, Y0 - 0.01, X0 + 0.2,
                                                          Y0 + 0.1)]), 4490)))  # fmt: skip
        s.add(AdminArea(code=VILLAGE, name="大任庄村", level="village", parent_code=TOWN,
                        geom=from_shape(MultiPolygon([box(X0 - 0.01, Y0 - 0.01, X0 + 0.1,
                                                          Y0 + 0.1)]), 4490)))  # fmt: skip


def _case(s, no: str, i: int, discovered: dt.date, *, dx: float = 0.0, cat: str = "steel_shed"):
    return ledger.create_structure(
        s, case_no=no, geometry=_sq(i, dx), category=cat, discovered_on=discovered,
        village_code=VILLAGE if dx == 0.0 else None,
    )  # fmt: skip


def _go(s, st, *steps: tuple[str, str] | tuple[str, str, str]) -> None:
    for step in steps:
        to, day = step[0], dt.date.fromisoformat(step[1])
        until = dt.date.fromisoformat(step[2]) if len(step) > 2 else None  # type: ignore[misc]
        lifecycle.transition(s, st, to, actor="t", reason=f"{to} 现场", effective_on=day,
                             deadline=until)  # fmt: skip


# --- 制止 and deadlines in the lifecycle ---------------------------------------------------


def test_halted_branch_and_deadline_rules(sessions):
    _seed(sessions)
    with transaction(sessions, "t") as s:
        st = _case(s, "ZZ-1", 0, dt.date(2024, 3, 1))
        _go(s, st, ("halted", "2024-03-02"))
        assert (st.status, st.halted_on) == ("halted", dt.date(2024, 3, 2))
        assert lifecycle.allowed_targets("halted") == {
            "notice_served", "demolished", "rectified", "legalized"
        }  # fmt: skip
        with pytest.raises(InvalidInput, match="needs its deadline"):
            _go(s, st, ("notice_served", "2024-03-05"))
        with pytest.raises(InvalidInput, match="before the notice was served"):
            _go(s, st, ("notice_served", "2024-03-05", "2024-03-04"))
        _go(s, st, ("notice_served", "2024-03-05", "2024-04-05"))
        assert (st.notice_on, st.deadline_on) == (dt.date(2024, 3, 5), dt.date(2024, 4, 5))
        with pytest.raises(InvalidInput, match="deadline belongs to notice_served"):
            _go(s, st, ("demolished", "2024-04-01", "2024-05-01"))
        _go(s, st, ("demolished", "2024-04-20"))
        st2 = _case(s, "ZZ-2", 1, dt.date(2024, 3, 1))
        _go(s, st2, ("verified", "2024-03-02"), ("halted", "2024-03-03"),
            ("legalized", "2024-05-01"))  # fmt: skip
        assert st2.closed_on == dt.date(2024, 5, 1) and st2.halted_on == dt.date(2024, 3, 3)
        st3 = _case(s, "ZZ-3", 2, dt.date(2024, 3, 1))
        _go(s, st3, ("dismissed", "2024-03-02"))
        with pytest.raises(IllegalTransition, match="cannot go from dismissed"):
            _go(s, st3, ("halted", "2024-03-03"))
    # the database itself refuses an unknown status and accepts halted
    with pytest.raises(IntegrityError), transaction(sessions, "t") as s:
        s.execute(text("UPDATE structure SET status = 'stopped' WHERE case_no = 'ZZ-3'"))


# --- 存量 / 增量 ---------------------------------------------------------------------------


def test_stock_class_from_base_date_override_and_audit(sessions):
    _seed(sessions)
    with transaction(sessions, "t") as s:
        a = _case(s, "SI-A", 0, dt.date(2023, 6, 30))  # on the base date: stock
        b = _case(s, "SI-B", 1, dt.date(2023, 7, 1))  # the day after: increment
        c = _case(s, "SI-C", 2, dt.date(2024, 1, 1), dx=0.12)  # other town, no base date
        assert stock.classify(s, a)["effective"] is None  # no base date yet
        with pytest.raises(NotFound, match="not the code of a current town"):
            stock.set_base_date(s, VILLAGE, BASE)
        stock.set_base_date(s, TOWN, BASE, note="2023年违法建设基线调查")
        assert [stock.classify(s, x)["effective"] for x in (a, b, c)] == [
            "stock", "increment", None
        ]  # fmt: skip
        assert stock.classify(s, b)["label"] == "增量"
        assert stock.classify(s, c)["label"] == "未定"
        with pytest.raises(InvalidInput, match="needs a reason"):
            stock.set_override(s, b, "stock", reason=" ")
        with pytest.raises(InvalidInput, match="unknown"):
            stock.set_override(s, b, "old", reason="x")
        stock.set_override(s, b, "stock", reason="2023年航拍已见，基线调查漏登")
        got = stock.classify(s, b)
        assert (got["derived"], got["override"], got["effective"]) == (
            "increment", "stock", "stock"
        )  # fmt: skip
        bid = b.id
    # the override is audited with its reason; the database refuses one without a reason
    with sessions() as s:
        rows = s.scalars(
            select(AuditLog).where(AuditLog.table_name == "structure", AuditLog.record_id == bid)
        ).all()
        last = rows[-1]
        assert last.new_row is not None and last.new_row["stock_override"] == "stock"
        assert last.new_row["stock_override_reason"] == "2023年航拍已见，基线调查漏登"
        assert s.scalar(select(AuditLog.id).where(AuditLog.table_name == "township"))
    with pytest.raises(IntegrityError), transaction(sessions, "t") as s:
        s.execute(text("UPDATE structure SET stock_override = 'increment', "
                       "stock_override_reason = NULL WHERE case_no = 'SI-A'"))  # fmt: skip
    # moving the base date re-classifies at once; clearing the override goes back to derived
    with transaction(sessions, "t") as s:
        stock.set_base_date(s, TOWN, dt.date(2023, 7, 1))
        b = lifecycle.find_structure(s, case_no="SI-B")
        stock.set_override(s, b, None, reason=None)
        assert stock.classify(s, b)["effective"] == "stock"
        assert (b.stock_override, b.stock_override_reason) == (None, None)


def test_report_groups_by_stock_class(sessions):
    _seed(sessions)
    with transaction(sessions, "t") as s:
        stock.set_base_date(s, TOWN, BASE)
        cases = [
            _case(s, "R-1", 0, dt.date(2022, 5, 1)),
            _case(s, "R-2", 1, dt.date(2023, 1, 1)),
            _case(s, "R-3", 2, dt.date(2024, 2, 1)),
            _case(s, "R-4", 3, dt.date(2024, 2, 2), dx=0.12),  # unclassified
        ]
        for st in cases:
            _go(s, st, ("verified", "2024-03-01"), ("notice_served", "2024-03-02", "2024-04-01"),
                ("demolished", "2024-05-01"))  # fmt: skip
        areas = {st.case_no: st.area_m2 for st in cases}
    with sessions() as s:
        rep = area_totals(
            s, AreaQuery(year=2024, status=("demolished",), group_by=("stock_class",))
        )
        got = {g.key["stock_class"]: (g.count, g.area_m2, g.labels["stock_class"])
               for g in rep.groups}  # fmt: skip
        assert list(got) == ["stock", "increment", None]  # 存量, 增量, then 未定
        assert got["stock"][:2] == (2, pytest.approx(areas["R-1"] + areas["R-2"], abs=1e-6))
        assert got["increment"][0] == 1 and got[None][2] == "未定"
        only = area_totals(s, AreaQuery(year=2024, stock_class=("increment",)))
        assert only.total.count == 1


# --- overdue and digest --------------------------------------------------------------------


@pytest.fixture
def overdue_ledger(sessions):
    """O-1 overdue and open; O-2 demolished after its deadline (overdue only until then);
    O-3 due in 3 days; O-4 stopped on site (制止)."""
    _seed(sessions)
    today = beijing_today()  # the bureau's day, as the overdue list counts
    with transaction(sessions, "t") as s:
        o1 = _case(s, "O-1", 0, today - dt.timedelta(days=90))
        _go(s, o1, ("verified", str(today - dt.timedelta(days=80))),
            ("notice_served", str(today - dt.timedelta(days=60)),
             str(today - dt.timedelta(days=30))))  # fmt: skip
        o2 = _case(s, "O-2", 1, today - dt.timedelta(days=90))
        _go(s, o2, ("verified", str(today - dt.timedelta(days=80))),
            ("notice_served", str(today - dt.timedelta(days=60)),
             str(today - dt.timedelta(days=40))),
            ("demolished", str(today - dt.timedelta(days=10))))  # fmt: skip
        o3 = _case(s, "O-3", 2, today - dt.timedelta(days=20))
        _go(s, o3, ("verified", str(today - dt.timedelta(days=15))),
            ("notice_served", str(today - dt.timedelta(days=10)),
             str(today + dt.timedelta(days=3))))  # fmt: skip
        o4 = _case(s, "O-4", 3, today - dt.timedelta(days=5), cat="villa")
        _go(s, o4, ("halted", str(today - dt.timedelta(days=4))))
    return today


def test_overdue_now_and_in_the_past(sessions, overdue_ledger):
    today = overdue_ledger
    with sessions() as s:
        now = deadlines.overdue(s)
        assert [(c.case_no, c.days_overdue) for c in now] == [("O-1", 30)]
        # 20 days ago O-2 was past its deadline and not yet demolished
        past = deadlines.overdue(s, today - dt.timedelta(days=20))
        assert [(c.case_no, c.days_overdue) for c in past] == [("O-2", 20), ("O-1", 10)]
        assert [c.case_no for c in deadlines.due_soon(s, within_days=7)] == ["O-3"]
        assert deadlines.due_soon(s, within_days=2) == []


def test_digest_lists_overdue_due_and_halted(sessions, overdue_ledger):
    today = overdue_ledger
    with sessions() as s:
        text_ = digest_text(s)
    d = today - dt.timedelta(days=30)
    assert text_.startswith(f"违法建设台账每日提示（{today.year}年{today.month}月{today.day}日）")
    assert "一、逾期未拆除1处：" in text_
    assert (
        "O-1 大任庄村 彩钢房" in text_
        and f"期限{d.year}年{d.month}月{d.day}日，已逾期30天" in text_
    )
    assert "二、7日内到期1处：" in text_ and "O-3" in text_ and "还剩3天" in text_
    assert "三、已制止待处理1处：" in text_ and "O-4 违建别墅" in text_
    assert "O-2" not in text_


def test_overdue_api_geojson_map_filter_and_cli(client, sessions, overdue_ledger, db_url,
                                                monkeypatch, tmp_path):  # fmt: skip
    (vw,) = bearer_headers(sessions, ("vw", "viewer"))
    grant_townships(sessions, "vw", TOWN, OTHER_TOWN)  # two towns: a viewer of both
    r = client.get("/structures/overdue", headers=vw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 1 and body["cases"][0]["case_no"] == "O-1"
    assert body["cases"][0]["days_overdue"] == 30
    past = (overdue_ledger - dt.timedelta(days=20)).isoformat()
    r = client.get(f"/structures/overdue?as_of={past}&f=geojson", headers=vw)
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert [f["properties"]["case_no"] for f in fc["features"]] == ["O-2", "O-1"]
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert client.get("/structures/overdue").status_code == 401
    # the map/collections filter
    r = client.get("/collections/structure/items?overdue=true", headers=vw)
    assert [f["properties"]["case_no"] for f in r.json()["features"]] == ["O-1"]
    r = client.get("/collections/structure/items?overdue=false", headers=vw)
    assert sorted(f["properties"]["case_no"] for f in r.json()["features"]) == [
        "O-2", "O-3", "O-4"
    ]  # fmt: skip
    assert client.get("/collections/structure/items?overdue=maybe", headers=vw).status_code == 400

    from geo_enforce.cli import app, common

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:tester")
    common.settings.cache_clear()
    common.engine.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(app, ["structure", "overdue", "-f", "json"])
        assert res.exit_code == 0, res.output
        assert '"case_no": "O-1"' in res.output and "O-2" not in res.output
        res = runner.invoke(app, ["structure", "overdue", "-f", "csv"])
        assert res.exit_code == 0 and res.output.startswith("\ufeffid,case_no,"), res.output
        assert "O-1" in res.output and "O-2" not in res.output
        out = tmp_path / "digest" / "today.txt"
        res = runner.invoke(app, ["structure", "digest", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "一、逾期未拆除1处" in out.read_text(encoding="utf-8")
        res = runner.invoke(app, ["structure", "base-date", TOWN, "2023-06-30",
                                  "--note", "基线调查"])  # fmt: skip
        assert res.exit_code == 0 and "基准日 2023-06-30" in res.output, res.output
        res = runner.invoke(app, ["structure", "stock-class", "O-4", "stock", "-r", "旧房翻建"])
        assert res.exit_code == 0 and "存量" in res.output and "旧房翻建" in res.output
        res = runner.invoke(app, ["structure", "stock-class", "O-1", "stock"])
        assert res.exit_code != 0
        res = runner.invoke(app, ["structure", "transition", "O-3", "demolished", "-r", "x",
                                  "--deadline", "2030-01-01"])  # fmt: skip
        assert res.exit_code != 0
    finally:
        common.settings.cache_clear()
        common.engine.cache_clear()


def test_api_stock_class_and_transition_deadline(client, sessions):
    _seed(sessions)
    ed, vw = bearer_headers(sessions, ("ed", "editor"), ("vw", "viewer"))
    grant_townships(sessions, "ed", TOWN)
    grant_townships(sessions, "vw", TOWN)
    with transaction(sessions, "t") as s:
        stock.set_base_date(s, TOWN, BASE)
        sid = _case(s, "API-1", 0, dt.date(2024, 1, 5)).id
    r = client.get(f"/structures/{sid}/stock-class", headers=vw)
    assert r.json()["effective"] == "increment" and r.json()["base_date"] == "2023-06-30"
    etag = client.get(f"/structures/{sid}", headers=vw).headers["ETag"]
    body = {"stock_class": "stock", "reason": "基线调查已在建"}
    assert client.post(f"/structures/{sid}/stock-class", json=body, headers=vw).status_code == 403
    assert client.post(f"/structures/{sid}/stock-class", json=body, headers=ed).status_code == 428
    r = client.post(f"/structures/{sid}/stock-class", json=body, headers={**ed, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert (r.json()["effective"], r.json()["derived"]) == ("stock", "increment")
    etag = r.headers["ETag"]
    r = client.post(
        f"/structures/{sid}/transitions",
        json={"to_status": "halted", "reason": "在建，现场制止", "effective_on": "2024-01-06"},
        headers={**ed, "If-Match": etag},
    )
    assert r.status_code == 201 and r.json()["to_status_label"] == "已制止"
    etag = r.headers["ETag"]
    r = client.post(
        f"/structures/{sid}/transitions",
        json={"to_status": "notice_served", "reason": "送达", "effective_on": "2024-01-08"},
        headers={**ed, "If-Match": etag},
    )
    assert r.status_code == 422 and "deadline" in r.json()["error"]["message"]
    r = client.post(
        f"/structures/{sid}/transitions",
        json={"to_status": "notice_served", "reason": "送达", "effective_on": "2024-01-08",
              "deadline": "2024-02-08"},
        headers={**ed, "If-Match": etag},
    )  # fmt: skip
    assert r.status_code == 201
    props = client.get(f"/structures/{sid}", headers=vw).json()["properties"]
    assert (props["deadline_on"], props["halted_on"]) == ("2024-02-08", "2024-01-06")


def test_api_townships_and_base_date(client, sessions):
    _seed(sessions)
    ad, ed, vw = bearer_headers(sessions, ("ad", "admin"), ("ed", "editor"), ("vw", "viewer"))
    grant_townships(sessions, "ed", TOWN, OTHER_TOWN)
    grant_townships(sessions, "vw", TOWN, OTHER_TOWN)
    with transaction(sessions, "t") as s:
        sid = _case(s, "TB-1", 0, dt.date(2023, 3, 1)).id
    assert client.get("/townships", headers=vw).json() == []
    body = {"base_date": "2022-12-31", "note": "2022年违法建设基线调查"}
    url = f"/townships/{TOWN}/base-date"
    assert client.put(url, json=body, headers=ed).status_code == 403  # a bureau decision
    r = client.put(url, json=body, headers=ad)  # the first setting needs no version
    assert r.status_code == 200, r.text
    assert (r.json()["base_date"], r.json()["name"]) == ("2022-12-31", "测试镇")
    etag = r.headers["ETag"]
    assert client.get(f"/structures/{sid}/stock-class", headers=vw).json()["effective"] == (
        "increment"
    )
    later = {"base_date": "2023-06-30"}
    assert client.put(url, json=later, headers=ad).status_code == 428  # once set: If-Match
    r = client.put(url, json=later, headers={**ad, "If-Match": etag})
    assert r.status_code == 200 and r.json()["base_note"] == "2022年违法建设基线调查"
    assert client.get(f"/structures/{sid}/stock-class", headers=vw).json()["effective"] == "stock"
    r = client.put(url, json=later, headers={**ad, "If-Match": etag})  # stale version
    assert r.status_code == 409
    r = client.put(f"/townships/{VILLAGE}/base-date", json=later, headers=ad)
    assert r.status_code == 404 and "not the code of a current town" in r.text
    r = client.put(url, json={"base_date": "0001-01-01"}, headers={**ad, "If-Match": "2"})
    assert r.status_code == 422
    listed = client.get("/townships", headers=vw).json()
    assert [(t["code"], t["base_date"]) for t in listed] == [(TOWN, "2023-06-30")]


# --- the annual report ---------------------------------------------------------------------


def test_annual_report_counts_stock_increment_halted_and_overdue(sessions):
    _seed(sessions)
    with transaction(sessions, "t") as s:
        stock.set_base_date(s, TOWN, BASE)
        s1 = _case(s, "Y-S1", 0, dt.date(2022, 3, 1))  # stock, demolished 2024
        _go(s, s1, ("verified", "2022-03-05"), ("notice_served", "2024-01-02", "2024-02-01"),
            ("demolished", "2024-03-01"))  # fmt: skip
        i1 = _case(s, "Y-I1", 1, dt.date(2024, 4, 1))  # increment, halted then demolished
        _go(s, i1, ("halted", "2024-04-02"), ("demolished", "2024-06-01"))
        i2 = _case(s, "Y-I2", 2, dt.date(2024, 5, 1))  # increment, halted, still open
        _go(s, i2, ("halted", "2024-05-01"))
        i3 = _case(s, "Y-I3", 3, dt.date(2024, 7, 1))  # increment, overdue at year end
        _go(s, i3, ("verified", "2024-07-02"), ("notice_served", "2024-07-05", "2024-08-05"))
        i4 = _case(s, "Y-I4", 4, dt.date(2024, 8, 1))  # overdue at year end, demolished 2025
        _go(s, i4, ("verified", "2024-08-02"), ("notice_served", "2024-08-05", "2024-09-05"),
            ("demolished", "2025-01-10"))  # fmt: skip
        area = {st.case_no: st.area_m2 for st in (s1, i1, i2, i3, i4)}
    with sessions() as s:
        rep = build_annual(s, 2024)
    f = rep.figures
    assert (f["stock_demolished_count"], f["increment_demolished_count"]) == (1, 1)
    assert (f["increment_discovered_count"], f["increment_halted_count"]) == (4, 2)
    assert f["halted_count"] == 2 and f["overdue_count"] == 2
    assert f["overdue_m2"] == pytest.approx(area["Y-I3"] + area["Y-I4"], abs=0.01)
    para = "".join(rep.paragraphs)
    assert "依据违法建设动态台账消除存量、遏制增量：全年消除存量违法建设1处" in para
    assert "新发现增量违法建设4处，成功制止新建违建2处，拆除增量违法建设1处" in para
    assert "截至2024年12月31日，已责令限期拆除但逾期未拆除的违法建设2处" in para
    t = rep.table("stock_increment")
    assert [r[0] for r in t.rows] == ["存量", "增量"]
    assert t.rows[1][1:4] == [4, 2, 1] and t.total is not None and t.total[1:4] == [4, 2, 2]
    od = rep.table("overdue")
    assert [r[0] for r in od.rows] == ["Y-I3", "Y-I4"]  # longest overdue first
    assert (
        od.rows[0][3] == "2024年8月5日"
        and od.rows[0][4] == (dt.date(2024, 12, 31) - dt.date(2024, 8, 5)).days
    )
