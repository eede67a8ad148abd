"""``geo-enforce import LAYER FILE`` and ``geo-enforce export LAYER FILE``."""

from __future__ import annotations

from pathlib import Path

import typer

from geo_enforce.cli.common import (
    app,
    catalogue,
    import_all_or_nothing,
    out,
    print_import_report,
    sessions,
    settings,
)


def print_report(report) -> None:
    """The import report as a table (Chinese labels), then repairs and warnings."""
    notes = []
    if report.columns:
        notes.append(
            "字段对应: " + ", ".join(f"{src}→{dst}" for src, dst in report.columns.items())
        )
    if report.ignored_columns:
        notes.append("未使用的字段: " + ", ".join(map(str, report.ignored_columns)))
    counts = [
        ("要素总数", report.total),
        ("新增", report.inserted),
        ("更新", report.updated),
        ("未变化", report.unchanged),
        ("几何修复", len(report.repaired)),
        ("警告", len(report.warnings)),
    ]
    print_import_report(report, f"导入图层 {report.layer}，文件 {report.source}", counts, notes)


@app.command("import")
def import_cmd(
    layer: str = typer.Argument(..., help="layer: structure, cleared_parcel, farmland_parcel, …"),
    file: Path = typer.Argument(..., help="SHP, GPKG, GeoJSON, KML, DXF or CSV (WKT column)"),
    crs: str | None = typer.Option(None, help="source CRS when the file declares none, e.g. 4548"),
    field_map: str | None = typer.Option(
        None, "--field-map", help="SRC=FIELD,… or a JSON file {source: field}"
    ),
    from_gcj02: bool = typer.Option(False, "--from-gcj02", help="coordinates are GCJ-02 (Amap)"),
    from_bd09: bool = typer.Option(False, "--from-bd09", help="coordinates are BD-09 (Baidu)"),
    source_layer: str | None = typer.Option(None, "--layer", help="layer inside the file"),
    encoding: str | None = typer.Option(None, help="attribute encoding, e.g. GB18030"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check and count, write nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Import a vector file into a layer: all features or none, upserted by the natural key."""
    from geo_enforce.io.importer import import_layer

    import_all_or_nothing(
        file,
        lambda session: import_layer(
            session,
            layer,
            file,
            crs=crs,
            field_map=field_map,
            from_gcj02=from_gcj02,
            from_bd09=from_bd09,
            source_layer=source_layer,
            encoding=encoding,
            catalogue=catalogue(),
            max_features=settings().limits.max_import_features,
            max_vertices=settings().limits.max_vertices,
        ),
        dry_run=dry_run,
        as_json=as_json,
        print_report=print_report,
    )


@app.command("export")
def export_cmd(
    layer: str = typer.Argument(..., help="layer to export"),
    file: Path = typer.Argument(..., help="output file (.gpkg, .shp, .geojson, .kml, .csv)"),
    fmt: str | None = typer.Option(None, "--format", help="gpkg, shp, geojson, kml or csv"),
    include_retired: bool = typer.Option(False, "--include-retired", help="retired records too"),
    no_private: bool = typer.Option(False, "--no-private", help="leave out personal data"),
) -> None:
    """Export the current records of a layer (EPSG:4490, areas included)."""
    from geo_enforce.io.exporter import export_layer

    with sessions()() as session:
        n = export_layer(
            session,
            layer,
            file,
            fmt,
            include_retired=include_retired,
            private=not no_private,
            catalogue=catalogue(),
        )
    out.print(f"已导出 {n} 条 {layer} 记录 → {file}")
