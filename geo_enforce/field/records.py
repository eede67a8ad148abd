"""Reading captures back: patrol records, evidence, their files, a case's timeline; and closing a
demolition with its 拆除后 evidence.

Typed results with codes and numbers only (frozen dataclasses); Chinese labels and file URLs
are added by whoever presents them (the API). Positions are EPSG:4490 lon/lat, times aware.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.io.sanity import BEIJING
from geo_enforce.ledger import lifecycle, vocab
from geo_enforce.settings import Settings
from geo_enforce.storage.field_models import (
    CaptureFile,
    CaseEvidence,
    PatrolRecord,
    TransitionEvidence,
)
from geo_enforce.storage.models import Structure, StructureTransition
from geo_enforce.storage.paths import resolve_stored


def _lonlat(geom: Any) -> tuple[float | None, float | None]:
    if geom is None:
        return None, None
    p = to_shape(geom)
    return round(p.x, 8), round(p.y, 8)


@dataclass(frozen=True)
class FileInfo:
    """A stored capture file: what it is, its SHA-256, when and where it was taken."""

    id: int
    media: str
    content_type: str
    original_name: str | None
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    taken_at: dt.datetime | None
    time_source: str | None
    lon: float | None
    lat: float | None
    position_source: str | None
    heading_deg: float | None
    received_at: dt.datetime

    @classmethod
    def of(cls, f: CaptureFile) -> FileInfo:
        """The summary of a stored file row."""
        lon, lat = _lonlat(f.location)
        return cls(
            id=f.id,
            media=f.media,
            content_type=f.content_type,
            original_name=f.original_name,
            size_bytes=f.size_bytes,
            sha256=f.sha256,
            width=f.width,
            height=f.height,
            taken_at=f.taken_at,
            time_source=f.time_source,
            lon=lon,
            lat=lat,
            position_source=f.position_source,
            heading_deg=f.heading_deg,
            received_at=f.received_at,
        )


@dataclass(frozen=True)
class PatrolInfo:
    """A stored patrol record with its files and the case it is linked to (or conflicted on)."""

    id: int
    observed_at: dt.datetime
    category: str
    note: str | None
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    #: the sketched outline as GeoJSON (lon/lat), or None
    sketch: dict[str, Any] | None
    structure_id: int | None
    case_no: str | None
    opened_case: bool
    conflict_case_id: int | None
    conflict_case_no: str | None
    conflict_note: str | None
    conflict_stage: str | None
    recorded_by: str
    created_at: dt.datetime
    files: tuple[FileInfo, ...]


@dataclass(frozen=True)
class EvidenceInfo:
    """Stored evidence on a case with its files and the transitions citing it."""

    id: int
    structure_id: int
    case_no: str
    stage: str
    observed_at: dt.datetime
    note: str | None
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    recorded_by: str
    created_at: dt.datetime
    files: tuple[FileInfo, ...]
    cited_by: tuple[int, ...]


def _files(session: Session, column: Any, ids: list[int]) -> dict[int, tuple[FileInfo, ...]]:
    out: dict[int, list[FileInfo]] = {i: [] for i in ids}
    if ids:
        for f in session.scalars(
            select(CaptureFile).where(column.in_(ids)).order_by(CaptureFile.id)
        ):
            out[getattr(f, column.key)].append(FileInfo.of(f))
    return {k: tuple(v) for k, v in out.items()}


def _case_nos(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return dict(
        session.execute(
            select(Structure.id, Structure.case_no).where(Structure.id.in_(wanted))
        ).all()
    )


def _patrol_infos(session: Session, rows: list[PatrolRecord]) -> list[PatrolInfo]:
    files = _files(session, CaptureFile.patrol_id, [r.id for r in rows])
    cases = _case_nos(session, [r.structure_id for r in rows] + [r.conflict_case_id for r in rows])
    sketches: dict[int, str] = {}
    with_sketch = [r.id for r in rows if r.sketch is not None]
    if with_sketch:
        sketches = dict(
            session.execute(
                select(PatrolRecord.id, func.ST_AsGeoJSON(PatrolRecord.sketch, 8)).where(
                    PatrolRecord.id.in_(with_sketch)
                )
            ).all()
        )
    out = []
    for r in rows:
        lon, lat = _lonlat(r.location)
        out.append(
            PatrolInfo(
                id=r.id,
                observed_at=r.observed_at,
                category=r.category,
                note=r.note,
                lon=lon,
                lat=lat,
                accuracy_m=r.accuracy_m,
                sketch=json.loads(sketches[r.id]) if r.id in sketches else None,
                structure_id=r.structure_id,
                case_no=cases.get(r.structure_id) if r.structure_id else None,
                opened_case=r.opened_case,
                conflict_case_id=r.conflict_case_id,
                conflict_case_no=cases.get(r.conflict_case_id) if r.conflict_case_id else None,
                conflict_note=r.conflict_note,
                conflict_stage=r.conflict_stage,
                recorded_by=r.recorded_by,
                created_at=r.created_at,
                files=files[r.id],
            )
        )
    return out


def patrol_info(session: Session, patrol_id: int) -> PatrolInfo:
    """Patrol record ``patrol_id``; NotFound otherwise."""
    row = session.get(PatrolRecord, patrol_id)
    if row is None:
        raise NotFound(f"巡查记录 {patrol_id} 不存在 (patrol record does not exist)")
    return _patrol_infos(session, [row])[0]


def list_patrols(
    session: Session,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    structure_id: int | None = None,
    unlinked: bool | None = None,
    recorded_by: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PatrolInfo]:
    """Patrol records, newest observed first. ``structure_id``: linked to or conflicted on that
    case; ``unlinked=True``: only records kept apart from a closed case (to be handled)."""
    q = select(PatrolRecord)
    if since is not None:
        q = q.where(PatrolRecord.observed_at >= since)
    if until is not None:
        q = q.where(PatrolRecord.observed_at < until)
    if structure_id is not None:
        q = q.where(
            or_(
                PatrolRecord.structure_id == structure_id,
                PatrolRecord.conflict_case_id == structure_id,
            )
        )
    if unlinked is not None:
        cond = PatrolRecord.conflict_case_id.is_not(None)
        q = q.where(cond if unlinked else ~cond)
    if recorded_by is not None:
        q = q.where(PatrolRecord.recorded_by == recorded_by)
    q = q.order_by(PatrolRecord.observed_at.desc(), PatrolRecord.id.desc())
    return _patrol_infos(session, list(session.scalars(q.limit(limit).offset(offset))))


def _evidence_infos(session: Session, rows: list[CaseEvidence]) -> list[EvidenceInfo]:
    ids = [r.id for r in rows]
    files = _files(session, CaptureFile.evidence_id, ids)
    cases = _case_nos(session, [r.structure_id for r in rows])
    cited: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        for t_id, e_id in session.execute(
            select(TransitionEvidence.transition_id, TransitionEvidence.evidence_id)
            .where(TransitionEvidence.evidence_id.in_(ids))
            .order_by(TransitionEvidence.id)
        ):
            cited[e_id].append(t_id)
    out = []
    for r in rows:
        lon, lat = _lonlat(r.location)
        out.append(
            EvidenceInfo(
                id=r.id,
                structure_id=r.structure_id,
                case_no=cases[r.structure_id],
                stage=r.stage,
                observed_at=r.observed_at,
                note=r.note,
                lon=lon,
                lat=lat,
                accuracy_m=r.accuracy_m,
                recorded_by=r.recorded_by,
                created_at=r.created_at,
                files=files[r.id],
                cited_by=tuple(cited[r.id]),
            )
        )
    return out


def evidence_info(session: Session, evidence_id: int) -> EvidenceInfo:
    """Evidence ``evidence_id``; NotFound otherwise."""
    row = session.get(CaseEvidence, evidence_id)
    if row is None:
        raise NotFound(f"取证记录 {evidence_id} 不存在 (evidence does not exist)")
    return _evidence_infos(session, [row])[0]


def list_evidence(session: Session, structure_id: int) -> list[EvidenceInfo]:
    """The evidence of a case, in the order it was observed."""
    rows = session.scalars(
        select(CaseEvidence)
        .where(CaseEvidence.structure_id == structure_id)
        .order_by(CaseEvidence.observed_at, CaseEvidence.id)
    )
    return _evidence_infos(session, list(rows))


def get_file(session: Session, file_id: int) -> CaptureFile:
    """Capture file ``file_id``; NotFound otherwise."""
    f = session.get(CaptureFile, file_id)
    if f is None:
        raise NotFound(f"文件 {file_id} 不存在 (capture file does not exist)")
    return f


def file_path(settings: Settings, f: CaptureFile) -> Path:
    """Where a stored capture file lives (under ``data_dir``); NotFound when it is missing."""
    path = resolve_stored(f.path, settings.data_dir)
    root = Path(settings.data_dir).resolve()
    if not path.resolve().is_relative_to(root) or not path.is_file():
        raise NotFound(f"文件 {f.id} 不在数据目录中 (the stored file is missing)")
    return path


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a case's timeline: a transition, evidence or a patrol record."""

    kind: str  # transition | evidence | patrol
    #: when it happened: captures when observed; a transition when recorded if that was on its
    #: effective day, else the end of its effective day (Beijing time)
    at: dt.datetime
    transition: StructureTransition | None = None
    evidence: EvidenceInfo | None = None
    patrol: PatrolInfo | None = None
    #: the ids of the evidence a transition cites
    cites: tuple[int, ...] = ()


_KIND_ORDER = {"patrol": 0, "evidence": 1, "transition": 2}
_END_OF_DAY = dt.time(23, 59, 59)


def _transition_time(t: StructureTransition) -> dt.datetime:
    """When a transition happened: the time it was recorded when that was on its effective day
    (Beijing time), else the end of the effective day (after that day's captures)."""
    if t.effective_on is None or t.at.astimezone(BEIJING).date() == t.effective_on:
        return t.at
    return dt.datetime.combine(t.effective_on, _END_OF_DAY, tzinfo=BEIJING)


def timeline(session: Session, structure_id: int) -> list[TimelineEntry]:
    """Everything that happened to a case, oldest first: status transitions (with the
    evidence they cite), evidence, and patrol records linked to it or kept apart from it."""
    lifecycle.find_structure(session, structure_id=structure_id)
    entries: list[TimelineEntry] = []
    transitions = lifecycle.history(session, structure_id)
    cites: dict[int, list[int]] = {t.id: [] for t in transitions}
    if transitions:
        for t_id, e_id in session.execute(
            select(TransitionEvidence.transition_id, TransitionEvidence.evidence_id)
            .where(TransitionEvidence.transition_id.in_(list(cites)))
            .order_by(TransitionEvidence.id)
        ):
            cites[t_id].append(e_id)
    for t in transitions:
        at = _transition_time(t)
        entries.append(TimelineEntry("transition", at, transition=t, cites=tuple(cites[t.id])))
    for e in list_evidence(session, structure_id):
        entries.append(TimelineEntry("evidence", e.observed_at, evidence=e))
    for p in list_patrols(session, structure_id=structure_id, limit=10_000):
        entries.append(TimelineEntry("patrol", p.observed_at, patrol=p))
    entries.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind]))
    return entries


def close_demolition(
    session: Session,
    structure: Structure,
    evidence_ids: list[int],
    *,
    actor: str,
    reason: str | None = None,
    effective_on: dt.date | None = None,
    expected_version: int | None = None,
) -> tuple[StructureTransition, list[int]]:
    """Move a case to ``demolished`` citing its 拆除后 evidence (at least one photo among them).

    ``effective_on`` defaults to the day (Beijing time) of the latest cited evidence; the reason
    names the evidence. Illegal moves and stale versions are refused as by
    :func:`lifecycle.transition`. Flushes; the caller commits.
    """
    ids = sorted(set(evidence_ids))
    if not ids:
        raise InvalidInput("结案须引用至少一条拆除后取证记录 evidence_ids (cite 拆除后 evidence)")
    rows = {e.id: e for e in session.scalars(select(CaseEvidence).where(CaseEvidence.id.in_(ids)))}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFound(f"取证记录 {', '.join(map(str, missing))} 不存在 (evidence does not exist)")
    for e in rows.values():
        if e.structure_id != structure.id:
            raise InvalidInput(
                f"取证记录 {e.id} 属于另一案件，不能用于案件 {structure.case_no} 结案"
            )
        if e.stage != "after":
            raise InvalidInput(
                f"取证记录 {e.id} 的阶段是“{vocab.label(vocab.EVIDENCE_STAGES, e.stage)}”，"
                "结案须引用“拆除后”的取证 (only 拆除后 evidence closes a demolition)"
            )
    photos = session.scalar(
        select(func.count())
        .select_from(CaptureFile)
        .where(CaptureFile.evidence_id.in_(ids), CaptureFile.media == "photo")
    )
    if not photos:
        raise InvalidInput("引用的拆除后取证中没有照片，须至少一张拆除后照片才能结案")
    day = effective_on or max(e.observed_at.astimezone(BEIJING).date() for e in rows.values())
    cited = "、".join(f"#{i}" for i in ids)
    text = (reason or "").strip() or "拆除完毕"
    rec = lifecycle.transition(
        session,
        structure,
        "demolished",
        actor=actor,
        reason=f"{text}（依据拆除后取证 {cited}，照片 {photos} 张）",
        effective_on=day,
        expected_version=expected_version,
    )
    for i in ids:
        session.add(TransitionEvidence(transition_id=rec.id, evidence_id=i))
    session.flush()
    return rec, ids
