"""Drone flights (register by upload, list, retire) and detection runs as jobs with status."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, UploadFile, status
from pydantic import BaseModel, Field

from api.deps import Admin, Editor, ReadDB, Viewer, scoped_sessions
from geo_enforce.detection import service
from geo_enforce.errors import GeoEnforceError
from geo_enforce.imagery.flights import flight_summary, flight_warnings, get_flight, list_flights
from geo_enforce.imagery.flights import register_flight as _register
from geo_enforce.imagery.flights import retire_flight as _retire
from geo_enforce.imagery.stac import item as stac_item
from geo_enforce.io.uploads import check_content, read_limited
from geo_enforce.storage.engine import transaction

router = APIRouter(tags=["flights"])
log = logging.getLogger("geo_enforce.api")


class FlightOut(BaseModel):
    id: int
    name: str
    flown_on: dt.date
    gsd_m: float
    crs: str
    width: int
    height: int
    band_count: int
    has_dsm: bool
    retired: bool
    footprint: dict[str, Any] | None = None
    stac: dict[str, Any] | None = None
    warnings: list[str] = Field(
        default_factory=list, description="e.g. the flight lies outside every township area"
    )


class RetireIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class RunIn(BaseModel):
    before: str = Field(description="before flight id or name")
    after: str = Field(description="after flight id or name")
    params: dict[str, Any] = Field(default_factory=dict, description="min_height_m, min_area_m2…")


class RunOut(BaseModel):
    id: int
    before_flight_id: int
    after_flight_id: int
    status: str
    status_label: str
    progress: float
    params: dict[str, Any]
    summary: dict[str, Any]
    error: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


RUN_STATUS = {
    "pending": "等待",
    "running": "运行中",
    "done": "完成",
    "failed": "失败",
    "cancelled": "已取消",
}


def _flight_out(f, *, base: str | None = None) -> FlightOut:
    """The flight; with ``base`` (the API's URL) its STAC item, asset hrefs served by the API
    (never the stored paths)."""
    s = flight_summary(f)
    item = stac_item(f, base) if base is not None and f.retired_at is None else None
    return FlightOut(**{k: v for k, v in s.items() if k in FlightOut.model_fields}, stac=item)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _run_out(r) -> RunOut:
    return RunOut(
        id=r.id,
        before_flight_id=r.before_flight_id,
        after_flight_id=r.after_flight_id,
        status=r.status,
        status_label=RUN_STATUS.get(r.status, r.status),
        progress=r.progress,
        params=r.params,
        summary=r.summary,
        error=r.error,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


@router.get("/flights", response_model=list[FlightOut])
def flights(
    request: Request, session: ReadDB, _: Viewer, include_retired: bool = False
) -> list[FlightOut]:
    base = _base(request)
    return [
        _flight_out(f, base=base) for f in list_flights(session, include_retired=include_retired)
    ]


@router.get("/flights/{ref}", response_model=FlightOut)
def flight(ref: str, request: Request, session: ReadDB, _: Viewer) -> FlightOut:
    return _flight_out(get_flight(session, ref), base=_base(request))


def _save_upload(upload: UploadFile, folder: Path, stem: str, max_bytes: int) -> Path:
    data = read_limited(upload.file, max_bytes, what=upload.filename or stem)
    check_content(
        data,
        allowed={"tiff"},
        declared_type=upload.content_type,
        original_name=upload.filename,
        what=upload.filename or stem,
    )
    path = folder / f"{stem}.tif"
    path.write_bytes(data)
    return path


@router.post("/flights", response_model=FlightOut, status_code=status.HTTP_201_CREATED)
def register_flight(
    request: Request,
    principal: Admin,
    ortho: Annotated[UploadFile, File(description="orthophoto GeoTIFF")],
    flown_on: Annotated[dt.date, Form(description="flight date")],
    name: Annotated[str | None, Form()] = None,
    dsm: Annotated[UploadFile | None, File(description="DSM GeoTIFF")] = None,
) -> FlightOut:
    """Upload an orthophoto (and DSM); validated, converted to COG and registered."""
    settings = request.app.state.settings
    limit = settings.limits.max_upload_bytes
    tmp = Path(tempfile.mkdtemp(prefix="flight-", dir=_tmp_root(settings.data_dir)))
    try:
        ortho_path = _save_upload(ortho, tmp, "ortho", limit)
        dsm_path = _save_upload(dsm, tmp, "dsm", limit) if dsm is not None else None
        with transaction(scoped_sessions(request), principal.actor) as session:
            f = _register(
                session,
                ortho_path=ortho_path,
                dsm_path=dsm_path,
                flown_on=flown_on,
                name=name,
                data_dir=settings.data_dir,
                copy_cog=True,
                max_pixels=settings.limits.max_upload_pixels,
            )
            out = _flight_out(f, base=_base(request))
            out.warnings = flight_warnings(session, f)
            return out
    except GeoEnforceError as exc:
        uploaded = {"ortho": ortho.filename, "dsm": dsm.filename if dsm is not None else None}
        _hide_server_paths(exc, tmp, settings.data_dir, uploaded)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _hide_server_paths(
    exc: Exception, tmp: Path, data_dir: Path, uploaded: dict[str, str | None]
) -> None:
    """Rewrite a refusal's message so it names the uploaded files, never a server path: the
    temporary copies become the client's file names, anything else under the upload folder or
    the data directory loses its folder."""
    message = str(exc)
    for stem, filename in uploaded.items():
        shown = f"'{Path(filename).name}'" if filename else f"the {stem} upload"
        message = message.replace(str(tmp / f"{stem}.tif"), shown)
    for folder in (tmp, Path(data_dir).resolve(), Path(data_dir)):
        message = message.replace(f"{folder}/", "").replace(str(folder), "")
    exc.args = (message,)


def _tmp_root(data_dir: Path) -> Path:
    p = Path(data_dir) / "uploads" / "tmp"
    p.mkdir(parents=True, exist_ok=True)
    return p


@router.post("/flights/{ref}/retire", response_model=FlightOut)
def retire_flight(ref: str, body: RetireIn, request: Request, principal: Admin) -> FlightOut:
    who = principal.actor
    with transaction(scoped_sessions(request), who) as session:
        return _flight_out(_retire(session, ref, actor=who, reason=body.reason))


@router.post("/detection-runs", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED)
def start_run(
    body: RunIn, request: Request, principal: Editor, background: BackgroundTasks
) -> RunOut:
    """Create a detection run and start it in the background; poll its status."""
    who = principal.actor
    factory = scoped_sessions(request)
    settings = request.app.state.settings
    with transaction(factory, who) as session:
        run = service.create_run(session, before=body.before, after=body.after, params=body.params)
        out = _run_out(run)
    background.add_task(_execute, factory, run.id, settings, who)
    return out


def _execute(factory, run_id: int, settings, who: str) -> None:
    try:
        service.execute_run(
            factory,
            run_id,
            data_dir=settings.data_dir,
            actor=who,
            scheduler=settings.dask_scheduler,
        )
    except Exception:  # recorded on the run (status failed); never raised into the server
        log.exception("detection run %s failed", run_id)


@router.get("/detection-runs", response_model=list[RunOut])
def runs(session: ReadDB, _: Viewer, limit: int = Query(100, ge=1, le=1000)) -> list[RunOut]:
    return [_run_out(r) for r in service.list_runs(session, limit=limit)]


@router.get("/detection-runs/{run_id}", response_model=RunOut)
def run(run_id: int, session: ReadDB, _: Viewer) -> RunOut:
    return _run_out(service.get_run(session, run_id))
