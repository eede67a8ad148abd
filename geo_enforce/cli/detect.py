"""``geo-enforce detect`` (two registered flights → change patches) and ``change`` (pair mode)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

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
    before: str = typer.Argument(
        ..., help="before flight (id or name), or 'learn' / 'models' (see below)"
    ),
    after: str | None = typer.Argument(None, help="after flight (id or name)"),
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

    geo-enforce detect learn: fit a patch ranker on the stored rulings (违法/合法/其他 = real
    change, 伪变化 = not); later runs score their patches with it and set likely 伪变化 aside.
    geo-enforce detect models: list the stored ranker versions.
    """
    from geo_enforce.detection.service import create_run, execute_run
    from geo_enforce.storage.engine import transaction

    if resume is None and before in ("learn", "models") and after is None:
        if before == "learn":
            _learn()
        else:
            _models()
        return
    if resume is None and after is None:
        raise typer.BadParameter("give BEFORE and AFTER flights, or --resume N")
    who = actor()
    factory = sessions()
    if resume is None:
        assert after is not None
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
    for w in summary.get("warnings", []):
        console.print(Text.assemble(("警告", "bold yellow"), " ", w))
    typer.echo(json.dumps({"run_id": run_id, **summary}, ensure_ascii=False, indent=1))


def _learn() -> None:
    from geo_enforce.detection.learn import learn
    from geo_enforce.storage.engine import transaction

    with _bar() as bar:
        task = bar.add_task("学习已认定图斑 (cross-validation folds)", total=None)
        with transaction(sessions(), actor()) as s:
            m = learn(
                s, actor=actor(), progress=lambda d, t: bar.update(task, completed=d, total=t)
            )
            row = _model_row(m)
    cv = row["cv_metrics"]
    if not cv["adopted"]:
        console.print(
            Text.assemble(
                ("警告", "bold yellow"),
                f" detector model v{row['model_version']} ranks no better than the unsupervised "
                "confidence out of fold (average precision "
                f"{cv['learned']['average_precision']:.2f} vs "
                f"{cv['unsupervised']['average_precision']:.2f}): stored, not used; rule more "
                "patches and learn again",
            ),
            soft_wrap=True,
        )
    console.print(
        f"detector model v{row['model_version']}: {row['n_examples']} rulings "
        f"({row['n_positive']} real changes); precision at recall 0.9: learned "
        f"{cv['learned']['precision_at_recall_0.9']:.2f} vs unsupervised "
        f"{cv['unsupervised']['precision_at_recall_0.9']:.2f} (out of fold); patches scoring "
        f"under {row['set_aside_below']:.3f} are set aside",
        soft_wrap=True,
    )
    typer.echo(json.dumps(row, ensure_ascii=False, indent=1))


def _model_row(m) -> dict:
    return {
        "model_version": m.model_version,
        "id": m.id,
        "created_at": m.created_at.isoformat() if m.created_at else None,
        "created_by": m.created_by,
        "algorithm": m.algorithm,
        "target": m.target,
        "n_examples": m.n_examples,
        "n_positive": m.n_positive,
        "set_aside_below": m.set_aside_below,
        "cv_metrics": m.cv_metrics,
        "features": m.features,
        "sha256": m.model_sha256,
        "retired_at": m.retired_at.isoformat() if m.retired_at else None,
    }


def _models() -> None:
    from geo_enforce.detection.learn import list_models

    with sessions()() as s:
        rows = [_model_row(m) for m in list_models(s, include_retired=True)]
    if not rows:
        console.print("no detector model yet: detection is unsupervised (geo-enforce detect learn)")
    for r in rows:
        cv = r["cv_metrics"]
        state = f"retired {r['retired_at'][:10]}" if r["retired_at"] else "current"
        if not cv.get("adopted"):
            state += ", not adopted (no better than the confidence)"
        console.print(
            f"v{r['model_version']}  {r['created_at'][:16]}  {r['created_by']}  "
            f"{r['n_examples']} rulings  AP {cv['learned']['average_precision']:.2f} "
            f"(unsupervised {cv['unsupervised']['average_precision']:.2f})  {state}",
            soft_wrap=True,
        )


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
