"""Capture in the field: patrol records (巡查记录) and evidence on cases (取证), synced safely.

**Idempotent.** Every capture carries an idempotency key (the offline app makes one per capture,
a UUID). The first request with a key stores the record, its files and the key with a
fingerprint of the request (SHA-256 of the actor, the fields and every file's SHA-256). A retry
with the same key and the same content stores nothing and gives back the stored record
(``replayed``); the same key with other content is refused (:class:`KeyReused`, 409).
Concurrent requests with one key are serialised by a transaction-scoped advisory lock.

**Conflicts keep the record.** A capture naming a case that was closed (or retired) meanwhile is
not linked to it: the record is stored as a patrol record *without* the link, with the case
in ``conflict_case_id`` and the reason in ``conflict_note`` (an evidence capture keeps its
stage in ``conflict_stage``), and the result carries :class:`CaseClosedInfo` (the API answers
409 naming the case and its status, and the stored record). Closed means demolished,
rectified, legalized or dismissed; 拆除后 evidence is still taken on a demolished case.

**A new suspected structure in one step.** A patrol record flagged ``new_suspected`` opens a
``suspected`` structure case from its sketched outline in the same transaction, numbered
``XC<yyyymmdd>-<patrol id>`` (巡查, the day observed in Beijing time), and is linked to it.

**Time and position.** ``observed_at`` without a zone is Beijing time; it must be plausible and
not ahead of the server's clock by more than an hour. Each photo's time and position come from
its EXIF (``time_source``/``position_source`` ``exif``), else from the device's form fields
(``device``). Files are stored under ``data_dir/evidence`` with generated names (paths stored
relative to ``data_dir``), and removed again if the transaction rolls back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, InvalidInput, NotFound
from geo_enforce.field.media import CheckedMedia
from geo_enforce.geometry import crs as gcrs
from geo_enforce.io import sanity, uploads
from geo_enforce.ledger import vocab
from geo_enforce.ledger.edits import create_structure, polygon_for_storage
from geo_enforce.settings import Settings
from geo_enforce.storage.field_models import CaptureFile, CaptureKey, CaseEvidence, PatrolRecord
from geo_enforce.storage.models import AdminArea, Structure
from geo_enforce.storage.paths import to_stored

BEIJING = sanity.BEIJING
EVIDENCE_SUBDIR = "evidence"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
MAX_NOTE = 500
#: how far ahead of the server's clock a device's time may be
CLOCK_SKEW = dt.timedelta(hours=1)


class KeyReused(Conflict):
    """An idempotency key already stored a capture with other content."""


@dataclass(frozen=True)
class Device:
    """What the device reports: its GPS position (EPSG:4490/WGS 84 lon/lat) and accuracy (m)."""

    lon: float | None = None
    lat: float | None = None
    accuracy_m: float | None = None

    @property
    def point(self) -> Point | None:
        """The device's position, if it gave one."""
        return None if self.lon is None or self.lat is None else Point(self.lon, self.lat)


@dataclass(frozen=True)
class CaseClosedInfo:
    """The case a capture named was closed (or retired) when it arrived."""

    case_id: int
    case_no: str
    status: str
    retired: bool
    message: str


@dataclass
class CaptureResult:
    """What a capture stored: a patrol record or evidence, whether replayed, any conflict."""

    kind: str  # patrol | evidence
    record_id: int
    replayed: bool = False
    conflict: CaseClosedInfo | None = None
    warnings: list[str] = field(default_factory=list)


def check_key(key: str | None) -> str:
    """The idempotency key, checked: 8-100 characters of ``A-Z a-z 0-9 . _ : -``."""
    if not key:
        raise InvalidInput(
            "缺少幂等键：每次提交须带 Idempotency-Key 请求头（或 idempotency_key 字段），"
            "同一条记录重试时沿用同一个键 (Idempotency-Key required)"
        )
    if not KEY_PATTERN.match(key):
        raise InvalidInput(
            "幂等键格式无效：须为 8-100 个字母、数字或 . _ : - 字符（建议用 UUID） "
            "(invalid Idempotency-Key)"
        )
    return key


def observed_time(value: dt.datetime, what: str = "observed_at") -> dt.datetime:
    """A device time as an aware timestamp: no zone means Beijing time; plausible, and not
    more than an hour ahead of the server's clock."""
    t = value if value.tzinfo is not None else value.replace(tzinfo=BEIJING)
    sanity.check_date(t, what)
    if t - dt.datetime.now(dt.UTC) > CLOCK_SKEW:
        raise InvalidInput(
            f"{what}：{t.astimezone(BEIJING):%Y-%m-%d %H:%M} 晚于服务器当前时间，请校准手机时间 "
            "(time is in the future)"
        )
    return t


def _check_device(device: Device) -> None:
    if (device.lon is None) != (device.lat is None):
        raise InvalidInput("设备位置须同时给出经度 lon 和纬度 lat (give both lon and lat)")
    if device.point is not None and not gcrs.in_china(device.lon, device.lat):  # type: ignore[arg-type]
        raise InvalidInput(
            f"设备位置 lon {device.lon}, lat {device.lat} 不在中国境内，请检查定位 "
            "(device position outside China)"
        )
    if device.accuracy_m is not None and not 0 <= device.accuracy_m <= 100_000:
        raise InvalidInput("定位精度 accuracy_m 须在 0-100000 米之间")


def _check_note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(f"说明 note 过长（{len(note)} 字），最多 {MAX_NOTE} 字")
    return note


def _fingerprint(actor: str, kind: str, fields: dict[str, Any], files: list[CheckedMedia]) -> str:
    body = {
        "actor": actor,
        "kind": kind,
        "fields": fields,
        "files": [f.upload.sha256 for f in files],
    }
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _claimed(session: Session, key: str, actor: str, fingerprint: str) -> CaptureKey | None:
    """The stored capture of ``key`` (None: first use); holds the key's lock to the end of the
    transaction, so a concurrent retry waits and then finds it."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 15))"), {"k": key})
    row = session.scalar(select(CaptureKey).where(CaptureKey.key == key))
    if row is not None and (row.fingerprint != fingerprint or row.actor != actor):
        when = row.created_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
        raise KeyReused(
            f"幂等键 {key} 已于 {when} 用于另一份内容不同的提交，本次未保存；新记录请使用新的键 "
            "(Idempotency-Key reused with other content)"
        )
    return row


def _replay(session: Session, row: CaptureKey) -> CaptureResult:
    res = CaptureResult(kind=row.kind, record_id=row.record_id, replayed=True)
    if row.outcome == "conflict":
        p = session.get(PatrolRecord, row.record_id)
        st = session.get(Structure, p.conflict_case_id) if p and p.conflict_case_id else None
        if p is not None and st is not None:
            res.conflict = CaseClosedInfo(
                case_id=st.id,
                case_no=st.case_no,
                status=st.status,
                retired=st.retired_at is not None,
                message=p.conflict_note or "",
            )
    return res


def _case_closed(st: Structure, *, stage: str | None) -> CaseClosedInfo | None:
    """Why ``st`` takes no capture now (closed or retired), or None when it is open to it."""
    if st.retired_at is None and st.status not in vocab.CLOSED_STATUSES:
        return None
    if st.retired_at is None and st.status == "demolished" and stage == "after":
        return None
    status = vocab.label(vocab.STRUCTURE_STATUSES, st.status)
    if st.retired_at is not None:
        why = "已被撤销（retired）"
    else:
        day = st.closed_on.isoformat() if st.closed_on else "此前"
        why = f"已于 {day} 结案（{status}）"
    what = f"取证（{vocab.label(vocab.EVIDENCE_STAGES, stage)}）" if stage else "巡查记录"
    message = (
        f"案件 {st.case_no} {why}，本次{what}未挂入该案件，已另存为未关联的巡查记录，"
        "请联系法规科核处 (case closed meanwhile; stored unlinked)"
    )
    return CaseClosedInfo(st.id, st.case_no, st.status, st.retired_at is not None, message)


def _store_files(
    session: Session,
    settings: Settings,
    files: list[CheckedMedia],
    *,
    owner: dict[str, int],
    observed_at: dt.datetime,
    device: Device,
) -> list[str]:
    """Write each file under ``data_dir/evidence`` and add its row; returns warnings."""
    data_dir = Path(settings.data_dir)
    warnings: list[str] = []
    for f in files:
        taken, time_src = f.exif.taken_at, "exif"
        if taken is not None and not sanity.is_plausible(taken):
            warnings.append(f"{f.label} 的 EXIF 拍摄时间不合理，已改用设备时间")
            taken = None
        if taken is None:
            taken, time_src = observed_at, "device"
        point, pos_src = None, None
        if f.exif.has_position and gcrs.in_china(f.exif.lon, f.exif.lat):  # type: ignore[arg-type]
            point, pos_src = Point(f.exif.lon, f.exif.lat), "exif"  # type: ignore[arg-type]
        elif device.point is not None:
            point, pos_src = device.point, "device"
        if f.media == "photo" and pos_src != "exif":
            warnings.append(
                f"{f.label} 无 GPS 信息，"
                + ("位置取自设备定位" if pos_src else "且设备未给出位置，照片无位置")
            )
        name = uploads.store_bytes(data_dir, EVIDENCE_SUBDIR, f.upload)
        path = uploads.stored_path(data_dir, EVIDENCE_SUBDIR, name)
        uploads.remove_on_rollback(session, path)
        session.add(
            CaptureFile(
                **owner,
                path=to_stored(path, data_dir),
                original_name=f.upload.original_name,
                media=f.media,
                content_type=f.upload.content_type,
                size_bytes=f.upload.size_bytes,
                sha256=f.upload.sha256,
                width=f.width,
                height=f.height,
                taken_at=taken,
                time_source=time_src,
                location=from_shape(point, srid=4490) if point is not None else None,
                position_source=pos_src,
                heading_deg=f.exif.heading_deg if pos_src == "exif" else None,
            )
        )
    session.flush()
    return warnings


def _first_exif_point(files: list[CheckedMedia]) -> Point | None:
    for f in files:
        if f.exif.has_position and gcrs.in_china(f.exif.lon, f.exif.lat):  # type: ignore[arg-type]
            return Point(f.exif.lon, f.exif.lat)  # type: ignore[arg-type]
    return None


def _village_at(session: Session, geom: BaseGeometry) -> str | None:
    """The village (行政村/社区) whose area holds the outline's representative point."""
    p = geom.representative_point()
    return session.scalar(
        select(AdminArea.code)
        .where(
            AdminArea.retired_at.is_(None),
            AdminArea.level.in_(("village", "community")),
            func.ST_Intersects(AdminArea.geom, func.ST_SetSRID(func.ST_MakePoint(p.x, p.y), 4490)),
        )
        .order_by(AdminArea.code)
        .limit(1)
    )


@dataclass(frozen=True)
class PatrolIn:
    """A patrol record as captured (before checks)."""

    observed_at: dt.datetime
    category: str
    note: str | None = None
    device: Device = Device()
    #: a sketched outline (EPSG:4490 Polygon/MultiPolygon)
    sketch: BaseGeometry | None = None
    #: the existing case this record concerns
    structure_id: int | None = None
    #: report a new suspected structure: opens a ``suspected`` case from ``sketch``
    new_suspected: bool = False
    structure_category: str = "other"
    address: str | None = None


def _check_patrol(p: PatrolIn, settings: Settings) -> tuple[dt.datetime, Any, str | None]:
    if p.category not in vocab.PATROL_CATEGORIES:
        raise InvalidInput(
            f"巡查类别 category '{p.category}' 无效，可选："
            + "、".join(f"{k} {v}" for k, v in vocab.PATROL_CATEGORIES.items())
        )
    _check_device(p.device)
    note = _check_note(p.note)
    sketch = None
    if p.sketch is not None:
        sketch = polygon_for_storage(p.sketch, "勾绘范围 sketch", settings.limits.max_vertices)
    if p.new_suspected:
        if p.structure_id is not None:
            raise InvalidInput(
                "上报新增疑似违建时不能同时指定已有案件 structure_id (either a case or a new one)"
            )
        if sketch is None:
            raise InvalidInput(
                "上报新增疑似违建须在地图上勾绘建筑轮廓 sketch（案件图斑即取此轮廓） "
                "(a new suspected structure needs a sketched outline)"
            )
        if p.structure_category not in vocab.STRUCTURE_CATEGORIES:
            raise InvalidInput(
                f"违建类别 structure_category '{p.structure_category}' 无效，可选："
                + "、".join(f"{k} {v}" for k, v in vocab.STRUCTURE_CATEGORIES.items())
            )
    return observed_time(p.observed_at), sketch, note


def create_patrol(
    session: Session,
    settings: Settings,
    record: PatrolIn,
    files: list[CheckedMedia],
    *,
    key: str,
    actor: str,
) -> CaptureResult:
    """Store a patrol record with its files (or give back the one stored under ``key``).

    Flagged ``new_suspected``, it opens a ``suspected`` case from the sketch in the same
    transaction. Naming a closed case, it is stored unlinked and the result carries the
    conflict. Flushes; the caller commits.
    """
    key = check_key(key)
    observed, sketch, note = _check_patrol(record, settings)
    fields = {
        "observed_at": observed.astimezone(dt.UTC).isoformat(),
        "category": record.category,
        "note": note,
        "device": [record.device.lon, record.device.lat, record.device.accuracy_m],
        "sketch": sketch.wkt if sketch is not None else None,
        "structure_id": record.structure_id,
        "new_suspected": record.new_suspected,
        "structure_category": record.structure_category if record.new_suspected else None,
        "address": record.address if record.new_suspected else None,
    }
    fingerprint = _fingerprint(actor, "patrol", fields, files)
    stored = _claimed(session, key, actor, fingerprint)
    if stored is not None:
        return _replay(session, stored)
    location = record.device.point or _first_exif_point(files)
    if location is None and sketch is None:
        raise InvalidInput(
            "巡查记录须有位置：设备定位 lon/lat、带 GPS 的照片或勾绘范围 sketch，三者至少其一 "
            "(a patrol record needs a position)"
        )
    conflict = None
    structure_id = None
    if record.structure_id is not None:
        st = session.get(Structure, record.structure_id, with_for_update=True)
        if st is None:
            raise NotFound(f"案件 {record.structure_id} 不存在 (structure does not exist)")
        conflict = _case_closed(st, stage=None)
        structure_id = None if conflict else st.id
    patrol_id = int(session.scalar(text("SELECT nextval('patrol_record_id_seq')")))  # type: ignore[arg-type]
    if record.new_suspected:
        day = observed.astimezone(BEIJING).date()
        st = create_structure(
            session,
            case_no=f"XC{day:%Y%m%d}-{patrol_id:04d}",
            geometry=sketch,
            village_code=_village_at(session, sketch),
            address=record.address,
            category=record.structure_category,
            status="suspected",
            discovered_on=day,
            notes=f"由巡查记录 {patrol_id} 上报新增疑似违建；巡查人 {actor}"
            + (f"：{note}" if note else ""),
        )
        structure_id = st.id
    session.add(
        PatrolRecord(
            id=patrol_id,
            observed_at=observed,
            category=record.category,
            note=note,
            location=from_shape(location, srid=4490) if location is not None else None,
            accuracy_m=record.device.accuracy_m,
            sketch=from_shape(sketch, srid=4490) if sketch is not None else None,
            structure_id=structure_id,
            opened_case=record.new_suspected,
            conflict_case_id=conflict.case_id if conflict else None,
            conflict_note=conflict.message if conflict else None,
            recorded_by=actor,
        )
    )
    session.flush()
    warnings = _store_files(
        session,
        settings,
        files,
        owner={"patrol_id": patrol_id},
        observed_at=observed,
        device=record.device,
    )
    _remember(session, key, actor, fingerprint, "patrol", patrol_id, conflict)
    return CaptureResult("patrol", patrol_id, conflict=conflict, warnings=warnings)


def _remember(
    session: Session,
    key: str,
    actor: str,
    fingerprint: str,
    kind: str,
    record_id: int,
    conflict: CaseClosedInfo | None,
) -> None:
    session.add(
        CaptureKey(
            key=key,
            actor=actor,
            fingerprint=fingerprint,
            kind=kind,
            record_id=record_id,
            outcome="conflict" if conflict else "stored",
        )
    )
    session.flush()


@dataclass(frozen=True)
class EvidenceIn:
    """Evidence on a case as captured (before checks)."""

    stage: str
    #: when it was captured; None: the earliest EXIF time of its photos
    observed_at: dt.datetime | None = None
    note: str | None = None
    device: Device = Device()


def _check_evidence(e: EvidenceIn, files: list[CheckedMedia]) -> tuple[dt.datetime, str | None]:
    if e.stage not in vocab.EVIDENCE_STAGES:
        raise InvalidInput(
            f"取证阶段 stage '{e.stage}' 无效，可选："
            + "、".join(f"{k} {v}" for k, v in vocab.EVIDENCE_STAGES.items())
        )
    if not files:
        raise InvalidInput("取证须附至少一个文件（照片、视频或 PDF 文书） (evidence needs a file)")
    _check_device(e.device)
    note = _check_note(e.note)
    if e.observed_at is not None:
        return observed_time(e.observed_at), note
    times = [
        f.exif.taken_at
        for f in files
        if f.exif.taken_at is not None and sanity.is_plausible(f.exif.taken_at)
    ]
    if not times:
        raise InvalidInput(
            "无法确定取证时间：照片无 EXIF 拍摄时间，请同时提交设备时间 observed_at "
            "(observed_at required when no photo carries a capture time)"
        )
    return observed_time(min(times)), note


def add_evidence(
    session: Session,
    settings: Settings,
    structure_id: int,
    evidence: EvidenceIn,
    files: list[CheckedMedia],
    *,
    key: str,
    actor: str,
) -> CaptureResult:
    """Store evidence on case ``structure_id`` (or give back the capture stored under ``key``).

    On a closed or retired case (拆除后 evidence excepted on a demolished one) the capture is
    kept as an unlinked patrol record and the result carries the conflict. Flushes.
    """
    key = check_key(key)
    observed, note = _check_evidence(evidence, files)
    fields = {
        "structure_id": structure_id,
        "stage": evidence.stage,
        "observed_at": observed.astimezone(dt.UTC).isoformat(),
        "note": note,
        "device": [evidence.device.lon, evidence.device.lat, evidence.device.accuracy_m],
    }
    fingerprint = _fingerprint(actor, "evidence", fields, files)
    stored = _claimed(session, key, actor, fingerprint)
    if stored is not None:
        return _replay(session, stored)
    # locked: a transition closing the case waits for this capture, or this one sees it closed
    st = session.get(Structure, structure_id, with_for_update=True)
    if st is None:
        raise NotFound(f"案件 {structure_id} 不存在 (structure does not exist)")
    location = evidence.device.point or _first_exif_point(files)
    conflict = _case_closed(st, stage=evidence.stage)
    if conflict is not None:
        return _evidence_as_patrol(
            session, settings, st, evidence, files, observed, note, location, conflict,
            key=key, actor=actor, fingerprint=fingerprint,
        )  # fmt: skip
    ev = CaseEvidence(
        structure_id=st.id,
        stage=evidence.stage,
        observed_at=observed,
        note=note,
        location=from_shape(location, srid=4490) if location is not None else None,
        accuracy_m=evidence.device.accuracy_m,
        recorded_by=actor,
    )
    session.add(ev)
    session.flush()
    warnings = _store_files(
        session,
        settings,
        files,
        owner={"evidence_id": ev.id},
        observed_at=observed,
        device=evidence.device,
    )
    warnings += _far_photos(session, settings, ev.id, st)
    _remember(session, key, actor, fingerprint, "evidence", ev.id, None)
    return CaptureResult("evidence", ev.id, warnings=warnings)


def _far_photos(session: Session, settings: Settings, evidence_id: int, st: Structure) -> list[str]:
    """Warnings for photos taken farther from the case than ``farmland.far_photo_m`` (geodesic
    metres on the CGCS2000 ellipsoid, 0 inside the outline)."""
    limit = settings.farmland.far_photo_m
    rows = session.execute(
        select(
            CaptureFile.original_name,
            func.ST_Distance(func.Geography(CaptureFile.location), func.Geography(Structure.geom)),
        )
        .join(Structure, Structure.id == st.id)
        .where(
            CaptureFile.evidence_id == evidence_id,
            CaptureFile.media == "photo",
            CaptureFile.location.is_not(None),
        )
        .order_by(CaptureFile.id)
    ).all()
    return [
        f"照片 '{name or '未命名'}' 拍摄位置距案件 {st.case_no} 图斑 {d:.0f} 米，"
        f"超过 {limit:.0f} 米，请确认是否在现场拍摄 (photo taken far from the case)"
        for name, d in rows
        if d is not None and d > limit
    ]


def _evidence_as_patrol(
    session: Session,
    settings: Settings,
    st: Structure,
    evidence: EvidenceIn,
    files: list[CheckedMedia],
    observed: dt.datetime,
    note: str | None,
    location: Point | None,
    conflict: CaseClosedInfo,
    *,
    key: str,
    actor: str,
    fingerprint: str,
) -> CaptureResult:
    """Keep evidence that arrived for a closed case as an unlinked patrol record (案件跟踪)."""
    if location is None:  # the capture was about this case: place it on the case
        loc = session.scalar(
            select(func.ST_PointOnSurface(Structure.geom)).where(Structure.id == st.id)
        )
    else:
        loc = from_shape(location, srid=4490)
    p = PatrolRecord(
        observed_at=observed,
        category="case_followup",
        note=note,
        location=loc,
        accuracy_m=evidence.device.accuracy_m,
        conflict_case_id=st.id,
        conflict_note=conflict.message,
        conflict_stage=evidence.stage,
        recorded_by=actor,
    )
    session.add(p)
    session.flush()
    warnings = _store_files(
        session,
        settings,
        files,
        owner={"patrol_id": p.id},
        observed_at=observed,
        device=evidence.device,
    )
    _remember(session, key, actor, fingerprint, "patrol", p.id, conflict)
    return CaptureResult("patrol", p.id, conflict=conflict, warnings=warnings)
