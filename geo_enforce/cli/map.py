"""``geo-enforce map``: write the squad's field map as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from geo_enforce.cli.common import app, console, sessions, settings


@app.command("map")
def map_command(
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write"),
    village: str | None = typer.Option(None, "--village", help="only this village (code or name)"),
    max_zoom: int = typer.Option(16, "--max-zoom", help="deepest vector-tile zoom carried"),
    max_tiles: int = typer.Option(6000, "--max-tiles", help="refuse larger extracts"),
    township: str | None = typer.Option(
        None, "--township", help="only this township's records (town code, 乡镇/街道)"
    ),
) -> None:
    """外业图离线导出 — write the offline field map (works from file:// with no network)."""
    from geo_enforce.webmap import export_offline_map

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("导出外业图", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        path = export_offline_map(
            sessions(),
            out,
            village=village,
            data_dir=Path(settings().data_dir),
            max_zoom=max_zoom,
            max_tiles=max_tiles,
            progress=progress,
            township=township,
        )
    size_mb = path.stat().st_size / 1e6
    console.print(f"[green]已写出[/] {path} ({size_mb:.1f} MB)")
