"""``geo-enforce db backup FILE`` and ``geo-enforce db restore FILE``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from geo_enforce.cli.common import console, out, settings
from geo_enforce.cli.db import db_app


def _bar(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@db_app.command("backup")
def backup_cmd(
    file: Path = typer.Argument(..., help="archive to write, e.g. backup-2026-11-22.tar"),
    external: bool = typer.Option(
        True,
        "--external/--no-external",
        help="also archive orthophotos the database refers to outside data_dir",
    ),
) -> None:
    """Back up the database (pg_dump) and the stored files under data_dir into one archive."""
    from geo_enforce.storage.backup import backup
    from geo_enforce.storage.engine import resolve_database_url

    s = settings()
    with _bar("stored files") as bar:
        task = bar.add_task("files", total=None)
        result = backup(
            resolve_database_url(s),
            s.data_dir,
            file,
            include_external=external,
            echo=console.print,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    m = result.manifest
    console.print(
        f"backup written: {result.path} — {sum(m['row_counts'].values())} rows, "
        f"{m.get('audit_log', {}).get('rows', 0)} audit entries, {len(m['files'])} files"
    )
    out.print(str(result.path), highlight=False)


@db_app.command("restore")
def restore_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a backup archive"),
    force: bool = typer.Option(
        False, "--force", help="replace the contents of a non-empty database and data_dir"
    ),
) -> None:
    """Restore a backup archive into the database and data_dir, then verify it exactly.

    Every file and the dump are checked (SHA-256) before the database is touched; the load
    runs as the schema owner (OWNER_DATABASE_URL, or the embedded cluster's ge_owner).
    """
    from geo_enforce.storage.backup import restore
    from geo_enforce.storage.engine import resolve_database_url

    s = settings()
    with _bar("stored files") as bar:
        task = bar.add_task("files", total=None)
        m = restore(
            file,
            resolve_database_url(s, owner=True),
            s.data_dir,
            force=force,
            echo=console.print,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"restored and verified: {sum(m['row_counts'].values())} rows, "
        f"{m.get('audit_log', {}).get('rows', 0)} audit entries, {len(m['files'])} files "
        f"(backup of {m['created_at']})"
    )
