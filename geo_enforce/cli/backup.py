"""``geo-enforce db backup FILE`` and ``geo-enforce db restore FILE``."""

from __future__ import annotations

from pathlib import Path

import typer

from geo_enforce.cli.common import console, out, settings
from geo_enforce.cli.db import db_app


@db_app.command("backup")
def backup_cmd(
    file: Path = typer.Argument(..., help="archive to write, e.g. backup-2026-11-22.tar"),
) -> None:
    """Back up the database (pg_dump) and the stored files under data_dir into one archive."""
    from geo_enforce.backup import backup
    from geo_enforce.db.engine import resolve_database_url

    s = settings()
    result = backup(resolve_database_url(s), s.data_dir, file, echo=lambda m: console.print(m))
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
    """Restore a backup archive into the database and data_dir, then verify it exactly."""
    from geo_enforce.backup import restore
    from geo_enforce.db.engine import resolve_database_url

    s = settings()
    m = restore(file, resolve_database_url(s), s.data_dir, force=force, echo=console.print)
    console.print(
        f"restored and verified: {sum(m['row_counts'].values())} rows, "
        f"{m.get('audit_log', {}).get('rows', 0)} audit entries, {len(m['files'])} files "
        f"(backup of {m['created_at']})"
    )
