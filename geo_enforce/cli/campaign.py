"""``geo-enforce campaign``: campaigns (专项治理) with targets, tagged cases and progress; and
``geo-enforce pipeline``: the 占压 rules of lines with safety distances and their hits."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from geo_enforce.cli.common import actor, app, catalogue, out, parse_date, sessions

campaign_app = typer.Typer(
    help="专项治理: create, list, show, apply (tag by scope), tag, untag, chart, retire."
)
app.add_typer(campaign_app, name="campaign")
pipeline_app = typer.Typer(
    help="管线及堤防: 占压 rules and hits (import lines with `import pipeline`)."
)
app.add_typer(pipeline_app, name="pipeline")

_STATE = {"met": "已完成", "running": "进行中", "ended": "未完成", "not_started": "未开始"}


def progress_table(items) -> Table:
    """Campaign progress (:class:`~geo_enforce.ledger.campaigns.CampaignProgress`) as a table."""
    from geo_enforce.ledger.vocab import CAMPAIGN_COUNT_UNITS

    table = Table(title="专项治理进展")
    for col in ("编号", "专项治理", "起止日期", "目标", "纳入(处)", "已拆除(处)", "已拆除(户)",
                "已拆除面积(平方米)", "完成率", "状态"):  # fmt: skip
        table.add_column(col)
    for p in items:
        target = "、".join(
            x
            for x in (
                f"{p.target_m2:.0f}平方米" if p.target_m2 is not None else "",
                f"{p.target_count}{CAMPAIGN_COUNT_UNITS[p.count_unit]}"
                if p.target_count is not None
                else "",
            )
            if x
        )
        table.add_row(
            p.code, p.name, f"{p.starts_on}~{p.ends_on}", target, str(p.tagged_count),
            str(p.done_count), str(p.done_households), f"{p.done_m2:.2f}",
            f"{100 * p.share:.0f}%", _STATE[p.state],
        )  # fmt: skip
    return table


@campaign_app.command("create")
def create_cmd(
    code: str = typer.Argument(..., help="campaign code, e.g. WJBS-2024"),
    name: str = typer.Argument(..., help="名称, e.g. 违建别墅专项治理"),
    starts_on: str = typer.Option(..., "--from", help="start YYYY-MM-DD"),
    ends_on: str = typer.Option(..., "--to", help="end YYYY-MM-DD"),
    target_m2: float | None = typer.Option(None, "--target-m2", help="target area, m²"),
    target_count: int | None = typer.Option(None, "--target-count", help="target count"),
    unit: str = typer.Option("case", help="what the count counts: case (处) or household (户)"),
    village: list[str] = typer.Option([], help="scope: village code (repeatable)"),
    category: list[str] = typer.Option([], help="scope: category, e.g. villa (repeatable)"),
    rule: list[str] = typer.Option([], help="scope: rule, e.g. encroach_gas (repeatable)"),
    apply: bool = typer.Option(True, help="tag the cases the scope takes right away"),
    township: str | None = typer.Option(
        None, help="town code whose cases it takes (needed when there are several townships)"
    ),
) -> None:
    """Register a campaign (专项治理) with its period, scope and target."""
    from geo_enforce.ledger import campaigns as camp
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        c = camp.create_campaign(
            session, code=code, name=name, starts_on=parse_date(starts_on, "--from"),
            ends_on=parse_date(ends_on, "--to"), target_m2=target_m2, target_count=target_count,
            count_unit=unit, villages=village, categories=category, rules=rule,
            township=township,
        )  # fmt: skip
        added = camp.apply_scope(session, c, catalogue=catalogue()).added if apply else []
    out.print(f"专项治理 {code} {name} 已登记；按范围纳入 {len(added)} 处")


@campaign_app.command("list")
def list_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="day YYYY-MM-DD (default today)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every current campaign with its progress."""
    from geo_enforce.ledger import campaigns as camp

    day = parse_date(as_of, "--as-of") if as_of else None
    with sessions()() as session:
        items = camp.all_progress(session, day)
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in items], ensure_ascii=False, indent=2))
    else:
        out.print(progress_table(items))


@campaign_app.command("show")
def show_cmd(
    code: str = typer.Argument(..., help="campaign code"),
    as_of: str | None = typer.Option(None, "--as-of", help="day YYYY-MM-DD (default today)"),
) -> None:
    """One campaign: progress and its cases (how each was tagged, by whom, when)."""
    from geo_enforce.ledger import campaigns as camp
    from geo_enforce.ledger.vocab import CAMPAIGN_TAG_METHODS, STRUCTURE_STATUSES, label

    day = parse_date(as_of, "--as-of") if as_of else None
    with sessions()() as session:
        c = camp.find_campaign(session, code)
        p = camp.progress(session, c, day)
        cases = camp.tagged_cases(session, c)
    out.print(progress_table([p]))
    table = Table(title=f"{c.name} 纳入案件 {len(cases)} 处")
    for col in ("案件编号", "村/社区", "状态", "拆除日期", "面积(平方米)", "纳入方式", "操作人",
                "时间", "依据"):  # fmt: skip
        table.add_column(col)
    for t in cases:
        table.add_row(
            t.case_no, t.village, label(STRUCTURE_STATUSES, t.status), str(t.demolished_on or ""),
            f"{t.area_m2:.2f}", label(CAMPAIGN_TAG_METHODS, t.method), t.tagged_by,
            t.tagged_at.strftime("%Y-%m-%d %H:%M"), t.reason,
        )  # fmt: skip
    out.print(table)


@campaign_app.command("apply")
def apply_cmd(code: str = typer.Argument(..., help="campaign code")) -> None:
    """Tag every case the campaign's scope takes (villages, categories, rules)."""
    from geo_enforce.ledger import campaigns as camp
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        res = camp.apply_scope(session, camp.find_campaign(session, code), catalogue=catalogue())
    out.print(
        f"{code}: 新纳入 {len(res.added)} 处，已纳入 {res.already} 处，"
        f"人工移出未再纳入 {res.untagged_by_hand} 处"
    )


@campaign_app.command("tag")
def tag_cmd(
    code: str = typer.Argument(..., help="campaign code"),
    case_no: str = typer.Argument(..., help="案件编号"),
    reason: str = typer.Option(..., "--reason", "-r", help="依据 (required)"),
) -> None:
    """Tag a case to a campaign by hand."""
    from geo_enforce.ledger import campaigns as camp
    from geo_enforce.ledger import lifecycle
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        c = camp.find_campaign(session, code)
        camp.tag(session, c, lifecycle.find_structure(session, case_no=case_no), reason=reason)
    out.print(f"{case_no} 已纳入 {code}")


@campaign_app.command("untag")
def untag_cmd(
    code: str = typer.Argument(..., help="campaign code"),
    case_no: str = typer.Argument(..., help="案件编号"),
    reason: str = typer.Option(..., "--reason", "-r", help="原因 (required)"),
) -> None:
    """Take a case out of a campaign (the scope will not tag it again)."""
    from geo_enforce.ledger import campaigns as camp
    from geo_enforce.ledger import lifecycle
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        c = camp.find_campaign(session, code)
        camp.untag(session, c, lifecycle.find_structure(session, case_no=case_no), reason=reason)
    out.print(f"{case_no} 已移出 {code}")


@campaign_app.command("retire")
def retire_cmd(
    code: str = typer.Argument(..., help="campaign code"),
    reason: str = typer.Option(..., "--reason", "-r", help="原因 (required)"),
) -> None:
    """Retire a campaign (kept, never deleted)."""
    from geo_enforce.ledger import campaigns as camp
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        camp.retire_campaign(session, camp.find_campaign(session, code), reason=reason)
    out.print(f"{code} 已撤销")


@campaign_app.command("chart")
def chart_cmd(
    out_file: Path = typer.Option(Path("campaigns.png"), "--out", help="PNG file to write"),
    as_of: str | None = typer.Option(None, "--as-of", help="day YYYY-MM-DD (default today)"),
) -> None:
    """专项治理任务完成情况 as a PNG bar chart."""
    from geo_enforce.ledger import campaigns as camp
    from geo_enforce.reports.campaigns import progress_label
    from geo_enforce.reports.charts import bar_campaign_progress

    day = parse_date(as_of, "--as-of") if as_of else None
    with sessions()() as session:
        items = [(p.name, p.share, progress_label(p)) for p in camp.all_progress(session, day)]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_bytes(bar_campaign_progress(items, title="专项治理任务完成情况"))
    typer.echo(str(out_file))


def hits_table(found, title: str) -> Table:
    """Line rule hits (:class:`~geo_enforce.ledger.pipelines.LineHit`) as a table."""
    from geo_enforce.ledger.pipelines import status_label

    table = Table(title=title)
    for col in (
        "规则",
        "编号",
        "村编码",
        "状态",
        "面积(平方米)",
        "管线",
        "距离(米)",
        "安全距离(米)",
    ):
        table.add_column(col)
    for h in found:
        table.add_row(
            h.label, h.target_code, h.village_code or "", status_label(h), f"{h.area_m2:.2f}",
            f"{h.line_code} {h.line_name or ''}".strip(), f"{h.distance_m:.2f}",
            f"{h.safety_distance_m:g}",
        )  # fmt: skip
    return table


@pipeline_app.command("hits")
def hits_cmd(
    target: str = typer.Option("structure", help="structure or change_patch"),
    kind: list[str] = typer.Option([], help="gas, oil, power, dyke (repeatable; default all)"),
    village: str | None = typer.Option(None, help="village code"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """占压: structures (or change patches) within the safety distance of a line."""
    from geo_enforce.ledger import pipelines

    with sessions()() as session:
        found = pipelines.hits(
            session, target=target, kinds=kind or None, village_code=village,
            catalogue=catalogue(),
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps([h.as_dict() for h in found], ensure_ascii=False, indent=2))
    else:
        out.print(hits_table(found, f"占压管线及堤防 {len(found)} 处"))


@pipeline_app.command("rules")
def rules_cmd() -> None:
    """The 占压 rules and the safety distance of each kind (from the layer catalogue)."""
    from geo_enforce.ledger import pipelines
    from geo_enforce.ledger.vocab import PIPELINE_KINDS

    distances = pipelines.safety_distances(catalogue())
    for kind, zh in PIPELINE_KINDS.items():
        d = distances.get(kind)
        out.print(f"encroach_{kind} 占压{zh}: {'未设' if d is None else f'{d:g} 米'}")
