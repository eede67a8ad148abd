"""``geo-enforce area FILE``: official areas of every feature in a vector file, as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from geo_enforce.cli.common import app


@app.command()
def area(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="vector file"),
    crs: str | None = typer.Option(None, help="CRS of the file when it declares none, e.g. 4548"),
    layer: str | None = typer.Option(None, help="layer inside a multi-layer file"),
) -> None:
    """Ellipsoidal areas (CGCS2000) per feature, total and dissolved total, in m² and mu."""
    from geo_enforce.geometry.areas import summarize
    from geo_enforce.io.reader import read_vector

    gdf = read_vector(file, crs=crs, layer=layer)
    summary = summarize(list(gdf.geometry), ids=list(gdf.index))
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
