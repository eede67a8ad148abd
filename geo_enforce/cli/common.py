"""Shared CLI plumbing: the typer app, settings, engine, and error reporting."""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from functools import lru_cache
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from geo_enforce.errors import GeoEnforceError, InvalidInput
from geo_enforce.settings import Settings
from geo_enforce.storage.audit import cli_actor

app = typer.Typer(
    name="geo-enforce",
    help="违法建设台账、无人机变化检测与面积统计 — ledger, change detection and areas.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class CliConsole(Console):
    """A rich console whose tables and panels are printed whole when the output is not a
    terminal.

    On a terminal a table or panel fits the window (rich folds or crops its lines); piped into a
    file, a ticket or another program it is laid out at its natural width, whatever ``COLUMNS``
    says, so no value (a cell, a URL, a token) is cut to "…" or cropped.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if not self.is_terminal and any(isinstance(o, Table | Panel) for o in objects):
            wide = self.options.update_width(100_000)
            need = max(self.measure(o, options=wide).maximum for o in objects)
            if need > self.width:  # rich caps print(width=…) at the console's own width
                Console(file=self.file, width=need, soft_wrap=True).print(*objects, **kwargs)
                return
        super().print(*objects, **kwargs)


# soft_wrap: messages and machine-readable lines are never cut at the console width (a path or
# an error copied into a ticket, grepped in a log or read by a script stays whole); tables and
# progress bars still lay themselves out to the width on a terminal.
console = CliConsole(stderr=True, soft_wrap=True)
out = CliConsole(soft_wrap=True)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


def actor() -> str:
    """Audit actor for CLI writes: ``Settings.actor`` (GEO_ENFORCE_ACTOR), else ``cli:<login>``."""
    return settings().actor or cli_actor(getpass.getuser())


def catalogue():
    """The layer catalogue named by ``Settings.catalogue`` (the packaged one when unset)."""
    from geo_enforce.io.catalogue import get_catalogue

    return get_catalogue(settings().catalogue)


@lru_cache(maxsize=1)
def engine():
    from geo_enforce.storage.engine import make_engine, resolve_database_url

    return make_engine(resolve_database_url(settings()))


def sessions():
    from geo_enforce.storage.engine import make_sessionmaker

    return make_sessionmaker(engine())


def import_all_or_nothing(
    file: Any, run: Any, *, dry_run: bool, as_json: bool, print_report: Any
) -> None:
    """Run ``run(session)`` (an import returning a report with ``dry_run`` and ``as_dict()``) in
    one transaction as the CLI actor, with a spinner naming ``file``: committed, or rolled back
    on any error and on ``dry_run``; then the report as JSON or through ``print_report``."""
    import json

    from geo_enforce.storage.engine import set_actor

    with console.status(f"导入 {file} …"), sessions()() as session:
        try:
            set_actor(session, actor())
            report = run(session)
        except BaseException:
            session.rollback()
            raise
        report.dry_run = dry_run
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_report(report)


def print_import_report(
    report: Any, heading: str, counts: list[tuple[str, int]], notes: list[str]
) -> None:
    """An import report for people: ``heading``, the dry-run notice, ``counts`` as a table
    (Chinese labels), ``notes`` line by line, then the report's repairs and warnings."""
    out.print(heading, soft_wrap=True)
    if report.dry_run:
        out.print("[bold]试运行：已检查并统计，未写入数据库[/]")
    table = Table(title="导入结果")
    table.add_column("项目")
    table.add_column("数量", justify="right")
    for label, n in counts:
        table.add_row(label, str(n))
    out.print(table)
    for note in notes:
        out.print(note)
    for line in report.repaired:
        out.print(f"[yellow]已修复[/] {line}")
    for line in report.warnings:
        out.print(f"[bold yellow]警告[/] {line}")


def parse_date(value: str, option: str) -> dt.date:
    """``value`` (YYYY-MM-DD) as a date; InvalidInput naming ``option`` when it is not one or
    lies outside the plausible range (1949-10-01 … a year from today)."""
    from geo_enforce.io.sanity import check_date

    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} '{value}' is not a date (YYYY-MM-DD)") from None
    return check_date(day, option)


def run_guarded(typer_app: typer.Typer, argv: list[str]) -> None:
    """Run the app; library errors print as one clear line and exit 2, never a traceback."""
    from sqlalchemy.exc import DBAPIError

    from geo_enforce.storage.scope import township_error

    try:
        try:
            typer_app(argv, standalone_mode=True)
        except DBAPIError as exc:  # a write the township rules refused: their message
            refused = township_error(exc)
            if refused is None:
                raise
            raise refused from exc
    except GeoEnforceError as exc:
        # The message is data, not markup: a path with [brackets] must print as it is.
        console.print(Text.assemble(("错误", "bold red"), " ", str(exc)))
        sys.exit(2)
