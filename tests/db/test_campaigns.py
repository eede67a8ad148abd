"""Campaigns (专项治理): registration, tagging by scope rule and by hand (audited), progress
against targets, the annual report's sentences and chart, and the CLI, on real PostGIS."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from geo_enforce.errors import Conflict, InvalidInput, NotFound
from geo_enforce.ledger import campaigns as camp
from geo_enforce.ledger import lifecycle
from geo_enforce.reports.annual import build_annual
from geo_enforce.reports.campaigns import campaign_sentence
from geo_enforce.reports.export import chart_caption, charts, docx_bytes
from geo_enforce.reports.phrasing import whole
from geo_enforce.storage.campaigns import CampaignCase
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.locking import StaleVersion
from geo_enforce.storage.models import AuditLog, Structure
from tests.support.campaign_seed import END, START, seed, villas


def test_campaign_registration_checks_every_field(sessions):
    seed(sessions)
    with transaction(sessions, "test:editor") as s:
        bad: list[tuple[dict[str, Any], str]] = [
            ({"target_count": None}, "give a target area"),
            ({"ends_on": dt.date(2023, 12, 1)}, "is before starts_on"),
            ({"categories": ["castle"]}, "scope category 'castle' is unknown"),
            ({"rules": ["encroach_water"]}, "scope rule 'encroach_water' is unknown"),
            ({"villages": ["nowhere"]}, "scope village 'nowhere' is not the code"),
            ({"count_unit": "mu"}, "count_unit must be case"),
            ({"name": " "}, "needs a name"),
        ]
        for kw, msg in bad:
            with pytest.raises(InvalidInput, match=msg):
                villas(s, **kw)
        c = villas(s)
        with pytest.raises(Conflict, match="exists already"):
            villas(s)
        assert camp.find_campaign(s, "WJBS-2024").id == camp.find_campaign(s, c.id).id
        camp.update_campaign(s, c, {"target_m2": 500.0}, expected_version=1)
        with pytest.raises(StaleVersion):
            camp.update_campaign(s, c, {"name": "改名"}, expected_version=1)
        with pytest.raises(InvalidInput, match="cannot be edited"):
            camp.update_campaign(s, c, {"code": "X"}, expected_version=c.version)
        with pytest.raises(InvalidInput, match="starts_on cannot be emptied"):
            camp.update_campaign(s, c, {"starts_on": None}, expected_version=c.version)
        with pytest.raises(NotFound):
            camp.find_campaign(s, "²")  # a digit to isdigit(), not a number
    with transaction(sessions, "test:admin") as s:
        c = camp.find_campaign(s, "WJBS-2024")
        camp.retire_campaign(s, c, reason="合并到三年拆违")
        assert c.retired_by == "test:admin"
    with sessions() as s:
        with pytest.raises(NotFound):
            camp.find_campaign(s, "WJBS-2024")
        actions = s.execute(
            select(AuditLog.action, AuditLog.actor).where(AuditLog.table_name == "campaign")
            .order_by(AuditLog.id)
        ).all()  # fmt: skip
        assert [a for a, _ in actions] == ["insert", "update", "retire"]
    # the database holds the same rules as the library
    with pytest.raises(IntegrityError), transaction(sessions, "t") as s:
        s.execute(text("INSERT INTO campaign (code, name, starts_on, ends_on) "
                       "VALUES ('N', 'n', '2024-01-01', '2024-02-01')"))  # fmt: skip


def test_tagging_by_scope_and_by_hand_is_recorded(sessions):
    ids = seed(sessions)
    with transaction(sessions, "test:editor") as s:
        c = villas(s)
        res = camp.apply_scope(s, c)
        # demolished before the start (D1) and dismissed (X1) are not taken; the shed is no villa
        assert res.added == ["W1", "W2", "W3"] and res.already == 0
        gas = camp.create_campaign(
            s, code="ZYRQ", name="占压燃气专项整治", starts_on=START, ends_on=dt.date(2025, 12, 31),
            target_m2=1000.0, rules=["encroach_gas"],
        )  # fmt: skip
        assert camp.scope_matches(s, gas) == {
            ids["W1"]: ["encroach_gas"],
            ids["S1"]: ["encroach_gas"],
        }
        assert camp.apply_scope(s, gas).added == ["S1", "W1"]
        assert camp.apply_scope(s, gas).already == 2  # idempotent
    with transaction(sessions, "test:hand") as s:
        c = camp.find_campaign(s, "WJBS-2024")
        st = lifecycle.find_structure(s, case_no="S1")
        with pytest.raises(InvalidInput, match="needs a reason"):
            camp.tag(s, c, st, reason=" ")
        t = camp.tag(s, c, st, reason="彩钢房附属于违建别墅，一并治理")
        assert (t.method, t.tagged_by) == ("hand", "test:hand")
        with pytest.raises(Conflict, match="tagged to this campaign already"):
            camp.tag(s, c, st, reason="again")
        camp.untag(s, c, lifecycle.find_structure(s, case_no="W3"), reason="经核实不属于别墅")
        with pytest.raises(NotFound, match="not tagged"):
            camp.untag(s, c, lifecycle.find_structure(s, case_no="W3"), reason="again")
        again = camp.apply_scope(s, c)
        assert again.added == [] and again.untagged_by_hand == 1  # W3 stays out
        cases = {t.case_no: t for t in camp.tagged_cases(s, c)}
        assert sorted(cases) == ["S1", "W1", "W2"]
        assert (cases["S1"].method, cases["W1"].method) == ("hand", "rule")
        assert cases["W1"].tagged_by == "test:editor" and cases["W1"].reason == "范围：村/类别"
        assert cases["W1"].village == "王村"
    with sessions() as s:
        rows = s.execute(
            select(AuditLog.action, AuditLog.actor, AuditLog.new_row["method"].astext)
            .where(AuditLog.table_name == "campaign_case").order_by(AuditLog.id)
        ).all()  # fmt: skip
        assert ("insert", "test:hand", "hand") in rows and ("retire", "test:hand", "rule") in rows
        assert sum(1 for a, who, _ in rows if a == "insert" and who == "test:editor") == 5
    # one current tag per campaign and case, enforced by the database too
    with pytest.raises(IntegrityError), transaction(sessions, "t") as s:
        now = dt.datetime.now(dt.UTC)
        s.add(CampaignCase(campaign_id=c.id, structure_id=ids["W1"], method="hand",
                           tagged_by="t", tagged_at=now, reason="dup"))  # fmt: skip


def test_progress_counts_demolitions_in_the_period_against_the_targets(sessions):
    ids = seed(sessions)
    with transaction(sessions, "test") as s:
        c = villas(s)
        camp.apply_scope(s, c)
        gas = camp.create_campaign(
            s, code="ZYRQ", name="占压燃气专项整治", starts_on=START, ends_on=dt.date(2025, 12, 31),
            target_m2=1000.0, rules=["encroach_gas"],
        )  # fmt: skip
        camp.apply_scope(s, gas)
    with sessions() as s:
        area = dict(s.execute(select(Structure.case_no, Structure.area_m2)).all())
        mid = camp.progress(s, camp.find_campaign(s, "WJBS-2024"), dt.date(2024, 5, 15))
        assert (mid.tagged_count, mid.done_count, mid.done_households) == (3, 1, 1)
        assert mid.done_m2 == area["W1"]  # the stored, trigger-maintained area
        assert (mid.share, mid.met, mid.state) == (0.5, False, "running")
        end = camp.progress(s, camp.find_campaign(s, "WJBS-2024"), END)
        assert (end.done_households, end.met, end.state) == (2, True, "met")
        assert end.done_m2 == pytest.approx(area["W1"] + area["W2"], rel=1e-12)
        assert [(v.village, v.households) for v in end.by_village] == [("王村", 2)]
        g = camp.progress(s, camp.find_campaign(s, "ZYRQ"), END)
        assert (g.tagged_count, g.done_count) == (2, 1)
        assert g.share_m2 == pytest.approx(area["W1"] / 1000.0) and g.share_count is None
        assert g.state == "running" and not g.met
        before = camp.progress(s, camp.find_campaign(s, "ZYRQ"), dt.date(2023, 6, 1))
        assert before.state == "not_started" and before.done_count == 0
        assert ids  # every seeded case has an id


def test_annual_report_speaks_of_the_campaigns(sessions, artifacts):
    seed(sessions)
    with transaction(sessions, "test") as s:
        camp.apply_scope(s, villas(s))
        camp.apply_scope(s, camp.create_campaign(
            s, code="ZYRQ", name="占压燃气专项整治", starts_on=START, ends_on=dt.date(2025, 12, 31),
            target_m2=1000.0, rules=["encroach_gas"],
        ))  # fmt: skip
        camp.create_campaign(s, code="OLD", name="2022年拆违", starts_on=dt.date(2022, 1, 1),
                             ends_on=dt.date(2022, 12, 31), target_count=5)  # fmt: skip
    with sessions() as s:
        area = dict(s.execute(select(Structure.case_no, Structure.area_m2)).all())
        rep = build_annual(s, 2024)
    total, w1 = whole(area["W1"] + area["W2"]), whole(area["W1"])
    assert (
        f"违建别墅专项治理拆除王村违建别墅2户{total}平方米，已完成违建别墅专项治理任务。"
        in rep.paragraphs
    )
    gas = next(p for p in rep.paragraphs if p.startswith("占压燃气专项整治"))
    share = whole(100 * area["W1"] / 1000.0)
    assert gas == f"占压燃气专项整治拆除王村违法建设1处{w1}平方米，累计完成目标任务的{share}%。"
    assert not any("2022年拆违" in p for p in rep.paragraphs)  # its period is not this year
    table = rep.table("campaigns")
    assert [r[0] for r in table.rows] == ["违建别墅专项治理", "占压燃气专项整治"]
    assert table.rows[0][1:5] == ["2024年1月1日至2024年12月31日", "2户", 3, 2]
    assert table.rows[0][-2:] == ["100%", "已完成"]
    assert [n for n, _, _ in rep.campaign_progress] == ["违建别墅专项治理", "占压燃气专项整治"]
    pngs = charts(rep)
    assert pngs["chart_campaigns"][:8] == b"\x89PNG\r\n\x1a\n"
    assert chart_caption(rep, "chart_campaigns") == "图3　2024年专项治理任务完成情况"
    (artifacts / "campaign-progress.png").write_bytes(pngs["chart_campaigns"])
    assert len(docx_bytes(rep, pngs)) > 10_000
    import io

    from openpyxl import load_workbook

    from geo_enforce.reports.export import xlsx_bytes

    wb = load_workbook(io.BytesIO(xlsx_bytes(rep, pngs)))
    sheet = wb["专项治理进展"]
    assert sheet["A1"].value == "2024年专项治理进展" and sheet["A4"].value == "违建别墅专项治理"
    assert sheet["G4"].value == pytest.approx(area["W1"] + area["W2"])  # unrounded m²


def test_sentence_when_a_campaign_ended_short_or_did_nothing(sessions):
    seed(sessions)
    with transaction(sessions, "test") as s:
        c = camp.create_campaign(s, code="SN", name="三年拆违", starts_on=START,
                                 ends_on=dt.date(2024, 3, 31), target_count=4)  # fmt: skip
        camp.apply_scope(s, c)
        p = camp.progress(s, c, END)
        assert (
            campaign_sentence(c, p, p)
            == "三年拆违本年度无拆除记录，未完成三年拆违任务（完成目标的0%）。"
        )
        c.ends_on = END
        p = camp.progress(s, c, END)
        assert p.done_count == 2 and campaign_sentence(c, p, p).endswith("累计完成目标任务的50%。")
        c.target_count = 2
        p = camp.progress(s, c, END)
        assert campaign_sentence(c, p, p).endswith("，已完成三年拆违任务。")


def test_cli_creates_applies_and_shows(sessions, db_url, monkeypatch, tmp_path):
    from geo_enforce.cli import app, common

    seed(sessions)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:tester")
    common.settings.cache_clear()
    common.engine.cache_clear()
    runner = CliRunner()
    try:
        r = runner.invoke(app, ["campaign", "create", "ZYRQ", "占压燃气专项整治", "--from",
                                "2024-01-01", "--to", "2025-12-31", "--target-m2", "1000",
                                "--rule", "encroach_gas"])  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "按范围纳入 2 处" in r.output
        r = runner.invoke(app, ["campaign", "tag", "ZYRQ", "W2", "-r", "群众举报占压"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["campaign", "show", "ZYRQ", "--as-of", "2024-12-31"])
        assert r.exit_code == 0 and "人工标记" in r.output and "cli:tester" in r.output
        r = runner.invoke(app, ["campaign", "list", "--json", "--as-of", "2024-12-31"])
        assert r.exit_code == 0, r.output
        assert '"done_count": 2' in r.output and '"tagged_count": 3' in r.output
        r = runner.invoke(app, ["campaign", "chart", "--out", str(tmp_path / "c.png")])
        assert r.exit_code == 0 and (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
        r = runner.invoke(app, ["pipeline", "hits", "--json"])
        assert r.exit_code == 0 and '"target_code": "S1"' in r.output
        assert '"label": "占压燃气管线"' in r.output
    finally:
        common.engine().dispose()
        common.settings.cache_clear()
        common.engine.cache_clear()


def test_sample_township_demo_has_hits_and_campaigns_with_progress(sessions):
    from geo_enforce.demo.campaigns import demo_campaigns
    from geo_enforce.demo.sample import load_township

    counts = load_township(sessions)
    assert counts["pipeline"] == 4
    day = dt.date(2025, 6, 30)
    first = demo_campaigns(sessions, as_of=day)
    hits = first["hits"]
    gas = [h for h in hits if h.rule == "encroach_gas"]
    assert len(gas) >= 3 and all(h.distance_m <= h.safety_distance_m for h in hits)
    assert {h.line_code for h in gas} == {"RQ-001"}
    by_code = {p.code: p for p in first["progress"]}
    assert by_code["WJBS-2024"].met and by_code["SNCW-2022"].met
    zyrq = by_code["ZYRQ-2024"]
    assert zyrq.state == "running" and zyrq.done_count >= 2 and zyrq.tagged_count >= 3
    with sessions() as s:
        tagged = {t.structure_id for t in camp.tagged_cases(s, camp.find_campaign(s, "ZYRQ-2024"))}
    assert tagged <= {h.target_id for h in gas}  # the scope rule is the 占压 rule
    again = demo_campaigns(sessions, as_of=day)  # idempotent
    assert [p.as_dict() for p in again["progress"]] == [p.as_dict() for p in first["progress"]]
    with sessions() as s:
        rep = build_annual(s, 2024)
    assert any(p.endswith("已完成三年拆违任务。") for p in rep.paragraphs)
    assert any(p.startswith("违建别墅专项治理拆除") for p in rep.paragraphs)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_campaign_section_renders_in_the_docx(sessions, tmp_path, artifacts):
    """The annual DOCX with campaigns through LibreOffice: the sentence, the table 专项治理进展
    and the chart caption are on the pages (PNG pages kept in test-artifacts/reports/)."""
    from geo_enforce.reports.export import write_annual

    seed(sessions)
    with transaction(sessions, "test") as s:
        camp.apply_scope(s, villas(s))
    with sessions() as s:
        rep = build_annual(s, 2024)
    docx = next(p for p in write_annual(rep, tmp_path, ("docx",)) if p.suffix == ".docx")
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to",
         "pdf", "--outdir", str(tmp_path), str(docx)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    pdf = tmp_path / "annual-2024.pdf"
    words = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = re.sub(r"\s+", "", words)
    assert "已完成违建别墅专项治理任务" in flat and "专项治理进展" in flat
    assert "图3" in flat and "2024年专项治理任务完成情况" in flat
    out = artifacts / "reports"
    out.mkdir(exist_ok=True)
    for old in out.glob("annual-campaigns-page-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(pdf), str(out / "annual-campaigns-page")], check=True
    )
    assert len(list(out.glob("annual-campaigns-page-*.png"))) >= 3


def test_red_line_scope_rules_measure_overlaps_on_the_ellipsoid(sessions):
    """outside_construction_land takes cases not wholly inside approved construction land (1 m²
    or more outside); ecological takes cases overlapping the ecological red line by 1 m²."""
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon, box

    from geo_enforce.storage.models import RedLine
    from tests.support.campaign_seed import near_line

    ids = seed(sessions)
    w2 = near_line(300.0)
    s1 = near_line(2.0, 100.0)
    with transaction(sessions, "test") as s:
        s.add(
            RedLine(
                code="JSYD-1",
                kind="construction_land",
                geom=from_shape(MultiPolygon([w2.buffer(0.0001)]), 4490),
            )
        )
        # the ecological line takes the east half of S1 (about 50 m²) and touches nothing else
        minx, miny, maxx, maxy = s1.bounds
        eco = MultiPolygon([box((minx + maxx) / 2, miny, maxx, maxy)])
        s.add(RedLine(code="STHX-1", kind="ecological", geom=from_shape(eco, 4490)))
    with transaction(sessions, "test") as s:
        out = camp.create_campaign(
            s,
            code="CCHX",
            name="超出红线范围建设",
            starts_on=START,
            ends_on=END,
            target_count=3,
            rules=["outside_construction_land"],
        )
        eco_c = camp.create_campaign(
            s,
            code="STHX",
            name="生态红线专项",
            starts_on=START,
            ends_on=END,
            target_count=1,
            rules=["ecological"],
        )
        outside = camp.scope_matches(s, out)
        assert set(outside) == {ids["W1"], ids["W3"], ids["S1"]}  # W2 lies inside JSYD-1
        assert camp.scope_matches(s, eco_c) == {ids["S1"]: ["ecological"]}
