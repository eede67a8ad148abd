"""``geo-enforce detect`` (two registered flights → change patches) and ``change`` (pair mode)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from geo_enforce.cli.common import actor, app, console, sessions, settings


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@app.command()
def detect(
    before: str = typer.Argument(..., help="before flight (id or name)"),
    after: str = typer.Argument(..., help="after flight (id or name)"),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="dask.distributed scheduler address (default: local threads)"
    ),
    resume: int | None = typer.Option(None, "--resume", help="resume detection run N"),
    min_height: float = typer.Option(2.2, "--min-height", help="height gain threshold, metres"),
    min_area: float = typer.Option(10.0, "--min-area", help="smallest change kept, m²"),
    detector: str = typer.Option("combined", help="combined | dsm | rgb"),
    tile: int = typer.Option(2048, help="window size in pixels"),
) -> None:
    """Detect change between two flights and store change patches with rule hits and chips.

    A killed run is resumed with --resume N (finished windows are kept).
    """
    from geo_enforce.detection.service import create_run, execute_run
    from geo_enforce.storage.engine import transaction

    who = actor()
    factory = sessions()
    if resume is None:
        with transaction(factory, who) as session:
            run = create_run(
                session,
                before=before,
                after=after,
                params={
                    "detector": detector,
                    "min_height_m": min_height,
                    "min_area_m2": min_area,
                    "tile": tile,
                },
            )
            run_id = run.id
        console.print(f"detection run {run_id}")
    else:
        run_id = resume
    with _bar() as bar:
        task = bar.add_task("变化检测 windows", total=None)
        summary = execute_run(
            factory,
            run_id,
            data_dir=settings().data_dir,
            actor=who,
            scheduler=scheduler or settings().dask_scheduler,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )
    typer.echo(json.dumps({"run_id": run_id, **summary}, ensure_ascii=False, indent=1))


@app.command()
def change(
    before: Path = typer.Argument(..., exists=True, dir_okay=False, help="before image"),
    after: Path = typer.Argument(..., exists=True, dir_okay=False, help="after image"),
    out_mask: Path = typer.Option(..., "--out", help="mask to write (.tif or .png)"),
    dsm_before: Path | None = typer.Option(None, "--dsm-before", exists=True),
    dsm_after: Path | None = typer.Option(None, "--dsm-after", exists=True),
    gsd: float | None = typer.Option(
        None, "--gsd", help="metres per pixel for images without georeference (default 0.5)"
    ),
    scheduler: str | None = typer.Option(None, "--scheduler", help="dask.distributed address"),
    min_area: float = typer.Option(10.0, "--min-area", help="smallest change kept, m²"),
    detector: str = typer.Option(
        "combined",
        "--detector",
        help="combined (drone: DSM + colour) | rgb | dsm | regional (satellite land cover)",
    ),
) -> None:
    """Pair mode: a 0/255 change mask of the before image's size, plus GeoJSON polygons."""
    from geo_enforce.detection.detectors import make_detector
    from geo_enforce.detection.pipeline import change_images

    with _bar() as bar:
        task = bar.add_task("变化检测 windows", total=None)
        result = change_images(
            before,
            after,
            out_mask,
            dsm_before=dsm_before,
            dsm_after=dsm_after,
            gsd=gsd,
            scheduler=scheduler,
            min_area_m2=min_area,
            detector=make_detector(detector),
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )
    typer.echo(json.dumps({"mask": str(out_mask), **result.summary()}, ensure_ascii=False))
