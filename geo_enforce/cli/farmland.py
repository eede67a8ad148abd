"""``geo-enforce farmland``: parcel look-up, overlay report and sheet, verifications, rulings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from geo_enforce.cli.common import actor, app, console, out, sessions, settings
from geo_enforce.ledger import vocab

if TYPE_CHECKING:
    from geo_enforce.farmland.results import ParcelInfo

farmland_app = typer.Typer(
    help="农用地核实: parcel look-up, overlay report/sheet, verifications, photos, rulings."
)
app.add_typer(farmland_app, name="farmland")

CRS_HELP = "CRS of the coordinates: 4490 (lon/lat), 4527 or 4548 (GK zone 39); guessed if unset"


def _polygon_arg(polygon: str):
    """A polygon given as WKT/GeoJSON text, a .geojson/.json/.wkt file, or any vector file."""
    path = Path(polygon)
    if len(polygon) < 4096 and path.exists():
        if path.suffix.lower() in (".geojson", ".json", ".wkt", ".txt"):
            return path.read_text(encoding="utf-8")
        import shapely

        from geo_enforce.errors import InvalidInput
        from geo_enforce.io.reader import read_vector

        gdf = read_vector(path)
        if len(gdf) == 0:
            raise InvalidInput(f"{path}: holds no features")
        return shapely.union_all(list(gdf.geometry))
    return polygon


def _parcel_table(parcels: list[ParcelInfo]) -> Table:
    t = Table("图斑编号", "地类", "永久基本农田", "行政村", "面积(m²)", "面积(亩)")
    for p in parcels:
        t.add_row(
            p.patch_code,
            f"{p.land_class} {vocab.label(vocab.LAND_CLASSES, p.land_class)}",
            "是" if p.is_permanent_basic else "否",
            p.village_code or "",
            f"{p.area_m2:,.2f}",
            f"{p.area_mu:,.4f}",
        )
    return t


@farmland_app.command("lookup")
def lookup_cmd(
    code: str | None = typer.Option(None, "--code", help="survey patch code (图斑编号)"),
    point: str | None = typer.Option(None, "--point", help="X,Y (lon,lat or GK easting,northing)"),
    polygon: str | None = typer.Option(None, "--polygon", help="WKT/GeoJSON text or a file"),
    crs: str | None = typer.Option(None, "--crs", help=CRS_HELP),
) -> None:
    """Find parcels by patch code, by a point or by a polygon."""
    from geo_enforce.errors import InvalidInput
    from geo_enforce.farmland import lookup
    from geo_enforce.farmland.results import ParcelInfo

    if sum(v is not None for v in (code, point, polygon)) != 1:
        raise InvalidInput("give exactly one of --code, --point or --polygon")
    with sessions()() as session:
        if code is not None:
            found = [lookup.by_code(session, code)]
        elif point is not None:
            try:
                x, y = (float(v) for v in point.split(","))
            except ValueError:
                raise InvalidInput(f"--point '{point}' must be X,Y (two numbers)") from None
            found = lookup.at_point(session, x, y, crs)
        else:
            found = lookup.in_polygon(session, _polygon_arg(str(polygon)), crs)
        rows = [ParcelInfo.of(p) for p in found]
    if not rows:
        console.print("no farmland parcel there (该位置无农用地图斑)")
    out.print(_parcel_table(rows))


@farmland_app.command("report")
def report_cmd(
    code: str | None = typer.Argument(None, help="survey patch code; or use --polygon"),
    polygon: str | None = typer.Option(None, "--polygon", help="WKT/GeoJSON text or a file"),
    crs: str | None = typer.Option(None, "--crs", help=CRS_HELP),
    pdf: Path | None = typer.Option(None, "--pdf", help="write the printable sheet as PDF"),
    docx: Path | None = typer.Option(None, "--docx", help="write the printable sheet as DOCX"),
    as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
) -> None:
    """Overlay report of a parcel or polygon: areas (m², 亩, %), overlaps, history; sheet."""
    from geo_enforce.farmland import sheet
    from geo_enforce.farmland.overlay import overlay_report
    from geo_enforce.farmland.results import plain

    with sessions()() as session:
        rep = overlay_report(
            session,
            patch_code=code,
            polygon=_polygon_arg(polygon) if polygon is not None else None,
            crs=crs,
            config=settings().farmland,
        )
        for fmt, path in (("pdf", pdf), ("docx", docx)):
            if path is not None:
                path.write_bytes(sheet.render_sheet(session, rep, fmt))
                console.print(f"wrote {path}")
    if as_json:
        typer.echo(json.dumps(plain(rep), ensure_ascii=False, indent=2))
        return
    for title, header, rows in sheet.sections(rep):
        t = Table(*header, title=title)
        for r in rows:
            t.add_row(*r)
        out.print(t)


@farmland_app.command("verify")
def verify_cmd(
    code: str = typer.Argument(..., help="survey patch code of the parcel checked"),
    result: str = typer.Option(
        ..., "--result", help="farmland|construction|facility_agri|rural_road|abandoned|other"
    ),
    notes: str | None = typer.Option(None, "--notes"),
    at: str | None = typer.Option(None, "--at", help="field time, ISO with zone (default now)"),
) -> None:
    """Record a field verification of a farmland parcel."""
    from geo_enforce.errors import InvalidInput
    from geo_enforce.farmland import lookup, verify
    from geo_enforce.storage.engine import transaction

    try:
        when = dt.datetime.fromisoformat(at) if at else None
    except ValueError:
        raise InvalidInput(f"--at '{at}' is not an ISO date-time") from None
    who = actor()
    with transaction(sessions(), who) as session:
        parcel = lookup.by_code(session, code)
        v = verify.create_verification(
            session,
            target_kind="farmland_parcel",
            target_id=parcel.id,
            result=result,
            actor=who,
            notes=notes,
            verified_at=when,
        )
        out.print(f"verification {v.id}: {code} → {result}")


@farmland_app.command("photo")
def photo_cmd(
    verification_id: int = typer.Argument(...),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JPEG photo"),
    lon: float | None = typer.Option(None, help="position by hand when the photo has no GPS"),
    lat: float | None = typer.Option(None),
) -> None:
    """Attach a JPEG to a verification (position, heading, time from EXIF)."""
    from geo_enforce.farmland import photos
    from geo_enforce.farmland.results import plain
    from geo_enforce.storage.engine import transaction

    s = settings()
    data = file.read_bytes()
    with transaction(sessions(), actor()) as session:
        res = photos.add_photo(
            session,
            s,
            verification_id,
            data,
            filename=file.name,
            lon=lon,
            lat=lat,
        )
    out.print(json.dumps(plain(res.photo), ensure_ascii=False))
    for w in res.warnings:
        console.print(f"[yellow]注意[/] {w}")


@farmland_app.command("status")
def status_cmd(
    verification_id: int = typer.Argument(...),
    status: str = typer.Argument(..., help="submitted|reviewed|returned"),
    reason: str | None = typer.Option(None, "--reason", "-r"),
) -> None:
    """Move a verification to another status."""
    from geo_enforce.farmland import verify
    from geo_enforce.storage.engine import transaction

    who = actor()
    with transaction(sessions(), who) as session:
        v = verify.set_status(session, verification_id, status, actor=who, reason=reason)
        out.print(f"verification {v.id}: {v.status}")


@farmland_app.command("retire")
def retire_cmd(
    verification_id: int = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", "-r", help="why (作废原因), kept in the audit log"),
    photo: int | None = typer.Option(None, "--photo", help="retire only this photo"),
    version: int | None = typer.Option(None, "--version", help="refuse if it changed since"),
) -> None:
    """Retire a verification, or one of its photos (never deleted; audited)."""
    from geo_enforce.farmland import verify
    from geo_enforce.storage.engine import transaction

    who = actor()
    with transaction(sessions(), who) as session:
        if photo is None:
            verify.retire_verification(
                session, verification_id, actor=who, reason=reason, expected_version=version
            )
            out.print(f"verification {verification_id} retired")
        else:
            verify.retire_photo(
                session, verification_id, photo, actor=who, reason=reason, expected_version=version
            )
            out.print(f"photo {photo} of verification {verification_id} retired")


@farmland_app.command("open-case")
def open_case_cmd(
    verification_id: int = typer.Argument(...),
    category: str = typer.Option("other", help="structure category, e.g. steel_shed"),
    case_no: str | None = typer.Option(None, help="case number (generated when unset)"),
) -> None:
    """Open a structure case from a parcel found occupied by construction."""
    from geo_enforce.farmland import verify
    from geo_enforce.storage.engine import transaction

    who = actor()
    with transaction(sessions(), who) as session:
        st = verify.open_structure_case(
            session, verification_id, actor=who, category=category, case_no=case_no
        )
        out.print(f"structure case {st.case_no} (id {st.id}) opened, status {st.status}")


@farmland_app.command("rule")
def rule_cmd(
    patch_code: str = typer.Argument(..., help="change patch code"),
    ruling: str = typer.Argument(..., help="legal|illegal|other|false_change"),
    approval_no: str | None = typer.Option(None, "--approval-no", help="批准文号 (legal only)"),
    note: str | None = typer.Option(None, "--note"),
    evidence: list[int] = typer.Option([], "--evidence", help="verification id (repeatable)"),
) -> None:
    """Rule a change patch."""
    from geo_enforce.farmland import rulings
    from geo_enforce.storage.engine import transaction

    who = actor()
    with transaction(sessions(), who) as session:
        p = rulings.rule_patch(
            session,
            code=patch_code,
            ruling=ruling,
            actor=who,
            note=note,
            approval_no=approval_no,
            evidence_verification_ids=evidence,
        )
        out.print(f"{p.code}: {p.ruling} ({p.status})")


@farmland_app.command("rulings")
def rulings_cmd(
    period: str = typer.Option("year", help="year|quarter|month"),
    since: str | None = typer.Option(None, help="detected on or after YYYY-MM-DD"),
    until: str | None = typer.Option(None, help="detected before YYYY-MM-DD"),
    village: str | None = typer.Option(None, help="village code"),
) -> None:
    """Counts and areas by ruling, and the illegal share of farmland taken per period."""
    from geo_enforce.errors import InvalidInput
    from geo_enforce.farmland import rulings

    try:
        d0 = dt.date.fromisoformat(since) if since else None
        d1 = dt.date.fromisoformat(until) if until else None
    except ValueError:
        raise InvalidInput("--since/--until must be dates YYYY-MM-DD") from None
    with sessions()() as session:
        summary, share = rulings.ruling_overview(
            session, period=period, since=d0, until=d1, village_code=village
        )
    t = Table("认定", "图斑数", "面积(m²)", "面积(亩)", "占耕地(m²)", title="变化图斑认定情况")
    for r in summary:
        t.add_row(
            vocab.RULINGS.get(r.ruling, "未认定"),
            str(r.count),
            f"{r.area_m2:,.2f}",
            f"{r.area_mu:,.4f}",
            f"{r.farmland_m2:,.2f}",
        )
    out.print(t)
    t = Table(
        "期间",
        "新增建设占用耕地(亩)",
        "其中违法(亩)",
        "违法占用比例(%)",
        "未认定图斑",
        title="新增建设占用耕地中违法占用比例",
    )
    for sh in share:
        pct = sh.illegal_share_pct
        t.add_row(
            sh.period,
            f"{sh.farmland_taken_mu:,.4f}",
            f"{sh.illegal_farmland_mu:,.4f}",
            "—" if pct is None else f"{pct:.2f}",
            str(sh.pending_patches),
        )
    out.print(t)


@farmland_app.command("photo-points")
def photo_points_cmd(
    output: Path | None = typer.Option(None, "--out", help="write GeoJSON here (else stdout)"),
) -> None:
    """Verification photo points as GeoJSON (map layer)."""
    from geo_enforce.farmland.photos import photo_points
    from geo_enforce.webmap.photos import photo_points_geojson

    with sessions()() as session:
        fc = photo_points_geojson(photo_points(session, config=settings().farmland))
    text = json.dumps(fc, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {len(fc['features'])} photo points to {output}")
