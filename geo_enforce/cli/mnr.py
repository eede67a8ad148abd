"""``geo-enforce mnr``: the ministry's satellite patches (卫片执法图斑): import, list, 举证,
ruling, rectification, the quarterly table, rules again."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from geo_enforce.cli.common import (
    actor,
    app,
    import_all_or_nothing,
    out,
    print_import_report,
    sessions,
    settings,
)

mnr_app = typer.Typer(
    help="卫片执法图斑: import, list, evidence, rule, rectify, quarterly, rules.",
    no_args_is_help=True,
)
app.add_typer(mnr_app, name="mnr")


def _print_import(report) -> None:
    notes = []
    if report.quarters:
        notes.append(
            "批次: " + ", ".join(f"{q} {n} 个" for q, n in sorted(report.quarters.items()))
        )
    if report.rule_hits:
        notes.append(
            "规则命中: " + ", ".join(f"{k} {n}" for k, n in sorted(report.rule_hits.items()))
        )
    notes.append("字段对应: " + ", ".join(f"{src}→{dst}" for src, dst in report.columns.items()))
    counts = [
        ("图斑总数", report.total),
        ("新增", report.inserted),
        ("已存在（未更新）", len(report.present)),
        ("其中几何不同", len(report.differs)),
        ("几何修复", len(report.repaired)),
        ("警告", len(report.warnings)),
    ]
    print_import_report(report, f"导入卫片图斑，文件 {report.source}", counts, notes)


@mnr_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="the ministry's patch file: SHP, GPKG or GeoJSON"),
    quarter: str | None = typer.Option(
        None, help="the batch's quarter, e.g. 2024Q3 (default: 监测批次 column, else 后时相)"
    ),
    field_map: str | None = typer.Option(
        None, "--field-map", help="SRC=FIELD,… e.g. 编号=patch_no (fields: see docs/mnr.md)"
    ),
    crs: str | None = typer.Option(None, help="source CRS when the file declares none"),
    encoding: str | None = typer.Option(None, help="attribute encoding, e.g. GB18030"),
    source_layer: str | None = typer.Option(None, "--layer", help="layer inside the file"),
    repair: bool = typer.Option(False, "--repair", help="repair invalid polygons (make_valid)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check and count, write nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Import the ministry's patches as change patches of source mnr; all or nothing."""
    from geo_enforce.mnr.imports import import_patches

    limits = settings().limits
    import_all_or_nothing(
        file,
        lambda session: import_patches(
            session,
            file,
            quarter=quarter,
            field_map=field_map,
            crs=crs,
            encoding=encoding,
            source_layer=source_layer,
            repair=repair,
            max_features=limits.max_import_features,
            max_vertices=limits.max_vertices,
        ),
        dry_run=dry_run,
        as_json=as_json,
        print_report=_print_import,
    )


@mnr_app.command("list")
def list_cmd(
    quarter: str | None = typer.Option(None, help="e.g. 2024Q3"),
    ruling: str | None = typer.Option(None, help="legal|illegal|other|false_change|pending"),
    rectification: str | None = typer.Option(None, help="not_started|in_progress|done"),
) -> None:
    """The ministry patches, by patch number."""
    from geo_enforce.ledger.vocab import RECTIFICATION_STATUSES, RULINGS, label
    from geo_enforce.mnr.listing import list_mnr

    with sessions()() as session:
        rows, total = list_mnr(
            session, quarter=quarter, ruling=ruling, rectification=rectification, limit=100_000
        )
        table = Table(title=f"卫片图斑 {total} 个")
        for col in ("图斑编号", "批次", "村", "面积(平方米)", "建议认定", "认定", "整改", "版本"):
            table.add_column(col)
        for p, m in rows:
            table.add_row(
                p.source_no,
                m.quarter,
                p.village_code or "",
                f"{p.area_m2:.2f}",
                label(RULINGS, p.suggested_ruling),
                label(RULINGS, p.ruling) or "未认定",
                label(RECTIFICATION_STATUSES, p.rectification),
                str(p.version),
            )
    out.print(table)


@mnr_app.command("evidence")
def evidence_cmd(
    patch_no: str = typer.Argument(..., help="图斑编号"),
    kind: str = typer.Argument(..., help="photo (JPEG), document (PDF) or approval"),
    file: Path | None = typer.Option(None, "--file", help="the JPEG or PDF"),
    approval_no: str | None = typer.Option(None, "--approval-no", help="批准文号"),
    note: str | None = typer.Option(None, help="说明"),
) -> None:
    """File 举证 evidence for a patch (append-only)."""
    from geo_enforce.errors import NotFound, TooLarge
    from geo_enforce.mnr.evidence import add_evidence
    from geo_enforce.storage.engine import transaction

    data = None
    if file is not None:
        if not file.is_file():
            raise NotFound(f"{file}: file not found")
        size, limit = file.stat().st_size, settings().limits.max_upload_bytes
        if size > limit:  # refused before it is read into memory
            raise TooLarge(f"{file} is {size:,} bytes, over the limit of {limit:,} bytes")
        data = file.read_bytes()
    who = actor()
    with transaction(sessions(), who) as session:
        res = add_evidence(
            session,
            settings(),
            patch_no,
            kind,
            actor=who,
            data=data,
            filename=file.name if file else None,
            approval_no=approval_no,
            note=note,
        )
        ev = res.evidence
        out.print(f"{patch_no}: 已登记举证 {ev.id} ({kind}) sha256 {ev.sha256 or '-'}")
    for w in res.warnings:
        out.print(f"[bold yellow]警告[/] {w}")


@mnr_app.command("rule")
def rule_cmd(
    patch_no: str = typer.Argument(..., help="图斑编号"),
    ruling: str = typer.Argument(..., help="legal|illegal|other|false_change"),
    approval_no: str | None = typer.Option(None, "--approval-no", help="批准文号 (legal)"),
    note: str | None = typer.Option(None, help="认定说明"),
    version: int | None = typer.Option(None, help="the version you read (checked when given)"),
) -> None:
    """Rule a ministry patch; legal needs the approval number (given or filed as 举证)."""
    from geo_enforce.ledger.vocab import RULINGS, label
    from geo_enforce.mnr.ruling import rule
    from geo_enforce.storage.engine import transaction

    who = actor()
    with transaction(sessions(), who) as session:
        p = rule(
            session,
            patch_no,
            ruling,
            actor=who,
            expected_version=version,
            approval_no=approval_no,
            note=note,
        )
        out.print(f"{patch_no}: 认定为{label(RULINGS, p.ruling)} (版本 {p.version})")


@mnr_app.command("rectify")
def rectify_cmd(
    patch_no: str = typer.Argument(..., help="图斑编号"),
    status: str = typer.Argument(..., help="not_started|in_progress|done"),
    version: int | None = typer.Option(None, help="the version you read (checked when given)"),
) -> None:
    """Record the rectification (整改) status of a patch ruled illegal."""
    from geo_enforce.ledger.vocab import RECTIFICATION_STATUSES, label
    from geo_enforce.mnr.ruling import set_rectification
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        p = set_rectification(session, patch_no, status, expected_version=version)
        out.print(
            f"{patch_no}: {label(RECTIFICATION_STATUSES, p.rectification)} (版本 {p.version})"
        )


@mnr_app.command("quarterly")
def quarterly_cmd(
    quarter: str = typer.Argument(..., help="e.g. 2024Q3 or 2024年第三季度"),
    output: Path | None = typer.Option(None, "--out", "-o", help="write an XLSX file"),
    as_json: bool = typer.Option(False, "--json", help="print the table as JSON"),
) -> None:
    """The quarter's patches by ruling: counts, areas (m², 亩), rectification."""
    from geo_enforce.mnr.quarterly import quarter_table, quarter_xlsx

    with sessions()() as session:
        t = quarter_table(session, quarter)
    if output is not None:
        output.write_bytes(quarter_xlsx(t))
        out.print(f"已写出 {output}")
        return
    if as_json:
        typer.echo(json.dumps(t.as_dict(), ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{t.label}卫片执法图斑认定情况")
    rt = t.report_table()
    for col in rt.columns:
        table.add_column(col, justify="left" if col == rt.columns[0] else "right")
    for row in [*rt.rows, rt.total or []]:
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    out.print(table)


@mnr_app.command("rules")
def rules_cmd(
    quarter: str | None = typer.Option(None, help="only this quarter, e.g. 2024Q3"),
) -> None:
    """Check the unruled ministry patches against the layers again (after a layer changed)."""
    from geo_enforce.mnr.imports import rerun_rules
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        n = rerun_rules(session, quarter=quarter)
    out.print(f"已重新检查 {n} 个未认定的卫片图斑")
