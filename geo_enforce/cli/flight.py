"""``geo-enforce flight``: register, list and retire drone flights (orthophoto COG + DSM)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from geo_enforce.cli.common import actor, app, console, out, parse_date, sessions, settings

flight_app = typer.Typer(help="无人机航飞: add (register), list, show, retire.")
app.add_typer(flight_app, name="flight")


@flight_app.command("add")
def add_cmd(
    ortho: Path = typer.Argument(..., help="orthophoto GeoTIFF/COG (RGB, RGBA or RGB+NIR)"),
    date: str = typer.Option(..., "--date", help="flight date YYYY-MM-DD"),
    dsm: Path | None = typer.Option(None, "--dsm", help="DSM GeoTIFF (one band, metres)"),
    name: str | None = typer.Option(None, "--name", help="unique flight name"),
) -> None:
    """Validate, convert to COG when needed and register a flight with its STAC item."""
    from geo_enforce.imagery.flights import flight_summary, flight_warnings, register_flight
    from geo_enforce.storage.engine import transaction

    day = parse_date(date, "--date")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task("检查影像 checking", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"检查 {stage}", completed=done, total=total)

        with transaction(sessions(), actor()) as session:
            flight = register_flight(
                session,
                ortho_path=ortho,
                dsm_path=dsm,
                flown_on=day,
                name=name,
                data_dir=settings().data_dir,
                progress=progress,
            )
            summary = flight_summary(flight)
            warnings = flight_warnings(session, flight)
    summary.pop("footprint", None)
    summary["warnings"] = warnings
    typer.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    for w in warnings:
        console.print(f"[yellow]警告 warning:[/] {w}", soft_wrap=True)


@flight_app.command("list")
def list_cmd(
    all_: bool = typer.Option(False, "--all", help="include retired flights"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Registered flights."""
    from geo_enforce.imagery.flights import flight_summary, list_flights

    with sessions()() as session:
        rows = [flight_summary(f) for f in list_flights(session, include_retired=all_)]
    if as_json:
        for r in rows:
            r.pop("footprint", None)
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table("id", "名称 name", "日期 date", "GSD m", "DSM", "尺寸 size", "状态")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["flown_on"],
            f"{r['gsd_m']:.3f}",
            "有" if r["has_dsm"] else "无",
            f"{r['width']}×{r['height']}",
            "已注销" if r["retired"] else "在用",
        )
    out.print(table)


@flight_app.command("show")
def show_cmd(
    flight: str = typer.Argument(..., help="flight id or name"),
    base_url: str = typer.Option(
        "http://127.0.0.1:8000",
        "--base-url",
        help="the API's address: the STAC item's asset links point there, never at files",
    ),
) -> None:
    """A flight's record and STAC item (assets as the API serves them)."""
    from geo_enforce.imagery.flights import flight_summary, get_flight
    from geo_enforce.imagery.stac import item as stac_item

    with sessions()() as session:
        f = get_flight(session, flight)
        body = {**flight_summary(f), "stac": stac_item(f, base_url.rstrip("/"))}
    typer.echo(json.dumps(body, ensure_ascii=False, indent=1))


@flight_app.command("retire")
def retire_cmd(
    flight: str = typer.Argument(..., help="flight id or name"),
    reason: str = typer.Option(..., "--reason", "-r", help="why (recorded in the audit log)"),
) -> None:
    """Retire a flight (records are never deleted)."""
    from geo_enforce.imagery.flights import retire_flight
    from geo_enforce.storage.engine import transaction

    who = actor()
    with transaction(sessions(), who) as session:
        f = retire_flight(session, flight, actor=who, reason=reason)
        out.print(f"flight {f.name} retired")
