"""Verification records (农用地核实): result, notes, who and when, status, history.

A record checks one farmland parcel, change patch or structure. Its status moves
submitted (已提交) → reviewed (已审核) | returned (已退回), and returned → submitted again; other
moves are refused. The status history is read from ``audit_log``, which the database writes on
every change whatever the write path, so it cannot be skipped or edited. A reason given with a
move is appended to the notes, dated and signed.

From a parcel found occupied by construction, :func:`open_structure_case` opens the
illegal-structure case (违法建设, status suspected) in one step and links it to the record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from geo_enforce.farmland.results import PhotoInfo, StatusChange, VerificationInfo
from geo_enforce.io import sanity
from geo_enforce.ledger import vocab
from geo_enforce.ledger.edits import create_structure, retire_record
from geo_enforce.settings import FarmlandSettings
from geo_enforce.storage.models import (
    ChangePatch,
    FarmlandParcel,
    Structure,
    Verification,
    VerificationPhoto,
)

#: Verification statuses with their Chinese labels.
VERIFICATION_STATUSES: dict[str, str] = {
    "submitted": "已提交",
    "reviewed": "已审核",
    "returned": "已退回",
}
#: The thresholds used when a caller passes none (the defaults of ``Settings.farmland``).
DEFAULT_FARMLAND = FarmlandSettings()
_MOVES = {"submitted": {"reviewed", "returned"}, "returned": {"submitted"}, "reviewed": set()}
TARGET_MODELS: dict[str, type] = {
    "farmland_parcel": FarmlandParcel,
    "change_patch": ChangePatch,
    "structure": Structure,
}


def _target(session: Session, kind: str, target_id: int):
    model = TARGET_MODELS.get(kind)
    if model is None:
        raise InvalidInput(
            f"target_kind '{kind}' is unknown; use one of {', '.join(TARGET_MODELS)}"
        )
    obj = session.get(model, target_id)
    if obj is None or obj.retired_at is not None:
        raise NotFound(f"{kind} {target_id} does not exist (or is retired)")
    return obj


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_verification(
    session: Session,
    *,
    target_kind: str,
    target_id: int,
    result: str,
    actor: str,
    notes: str | None = None,
    verified_at: dt.datetime | None = None,
) -> Verification:
    """Record a field check of a parcel, patch or structure; status ``submitted``."""
    if result not in vocab.VERIFICATION_RESULTS:
        raise InvalidInput(
            f"result '{result}' is unknown; use one of {', '.join(vocab.VERIFICATION_RESULTS)}"
        )
    _target(session, target_kind, target_id)
    when = sanity.check_datetime(verified_at or _now(), "verified_at")
    if when > _now() + dt.timedelta(minutes=5):
        raise InvalidInput(f"verified_at {when.isoformat()} lies in the future")
    v = Verification(
        target_kind=target_kind,
        target_id=target_id,
        result=result,
        status="submitted",
        notes=notes,
        verified_by=actor,
        verified_at=when,
    )
    session.add(v)
    session.flush()
    return v


def get_verification(session: Session, verification_id: int) -> Verification:
    """The current verification ``verification_id``; NotFound otherwise."""
    v = session.get(Verification, verification_id)
    if v is None or v.retired_at is not None:
        raise NotFound(f"verification {verification_id} does not exist (or is retired)")
    return v


def retire_verification(
    session: Session,
    verification_id: int,
    *,
    actor: str,
    reason: str,
    expected_version: int | None = None,
) -> Verification:
    """Retire (never delete) a verification, e.g. one recorded with a wrong date or target.

    Its photos stay attached but leave every listing and the photo-point layer with it. The
    audit log records who retired it, when and why. Flushes.
    """
    v = get_verification(session, verification_id)
    return retire_record(
        session,
        v,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        what=f"verification {verification_id}",
    )


def retire_photo(
    session: Session,
    verification_id: int,
    photo_id: int,
    *,
    actor: str,
    reason: str,
    expected_version: int | None = None,
) -> VerificationPhoto:
    """Retire one photo of a verification (the file stays in the data directory). Flushes."""
    p = session.get(VerificationPhoto, photo_id)
    if p is None or p.retired_at is not None or p.verification_id != verification_id:
        raise NotFound(
            f"photo {photo_id} of verification {verification_id} does not exist or is retired"
        )
    return retire_record(
        session,
        p,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        what=f"photo {photo_id} of verification {verification_id}",
    )


def set_status(
    session: Session, verification_id: int, status: str, *, actor: str, reason: str | None = None
) -> Verification:
    """Move a record to ``status``; refused moves raise :class:`IllegalTransition`."""
    v = get_verification(session, verification_id)
    if status not in VERIFICATION_STATUSES:
        raise InvalidInput(
            f"status '{status}' is unknown; use one of {', '.join(VERIFICATION_STATUSES)}"
        )
    if status not in _MOVES.get(v.status, set()):
        raise IllegalTransition(
            f"verification {verification_id} is {VERIFICATION_STATUSES.get(v.status, v.status)}"
            f" ({v.status}); it cannot move to {status}"
        )
    if status == "returned" and not (reason and reason.strip()):
        raise InvalidInput("returning a verification needs a reason (what is to be added)")
    if reason and reason.strip():
        stamp = (
            f"【{VERIFICATION_STATUSES[status]} {_now():%Y-%m-%d %H:%M} {actor}】{reason.strip()}"
        )
        v.notes = f"{v.notes}\n{stamp}" if v.notes else stamp
    v.status = status
    session.flush()
    return v


def status_history(session: Session, verification_id: int) -> tuple[StatusChange, ...]:
    """Every status the record held, who set it and when, read from the audit log."""
    return _histories(session, [verification_id]).get(verification_id, ())


def _histories(session: Session, ids: list[int]) -> dict[int, tuple[StatusChange, ...]]:
    rows = session.execute(
        text(
            "SELECT record_id, at, actor, action, old_row->>'status' AS old, "
            "new_row->>'status' AS new FROM audit_log "
            "WHERE table_name = 'verification' AND record_id = ANY(:ids) ORDER BY id"
        ),
        {"ids": ids},
    ).mappings()
    out: dict[int, list[StatusChange]] = {}
    for r in rows:
        if r["action"] == "insert" or r["old"] != r["new"] or r["action"] == "retire":
            status = "retired" if r["action"] == "retire" else r["new"]
            out.setdefault(r["record_id"], []).append(
                StatusChange(at=r["at"], actor=r["actor"], from_status=r["old"], status=status)
            )
    return {k: tuple(v) for k, v in out.items()}


#: the column naming each kind of target (patch code, change-patch code, case number)
_CODE_COLUMN = {"farmland_parcel": "patch_code", "change_patch": "code", "structure": "case_no"}


def _target_codes(session: Session, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Codes of the targets, one query over every kind."""
    parts, params = [], {}
    for kind, col in _CODE_COLUMN.items():
        ids = sorted(i for k, i in pairs if k == kind)
        if ids:
            parts.append(
                f"SELECT '{kind}' AS kind, id, {col} AS code FROM {kind} WHERE id = ANY(:{kind})"
            )
            params[kind] = ids
    if not parts:
        return {}
    rows = session.execute(text(" UNION ALL ".join(parts)), params)
    return {(r.kind, r.id): r.code for r in rows}


def describe(
    session: Session,
    records: list[Verification],
    *,
    config: FarmlandSettings = DEFAULT_FARMLAND,
    history: bool = False,
) -> list[VerificationInfo]:
    """The records with their current photos and target codes (and histories), in 3-4 queries."""
    if not records:
        return []
    ids = [v.id for v in records]
    photos: dict[int, list[PhotoInfo]] = {}
    for p in session.scalars(
        select(VerificationPhoto)
        .where(VerificationPhoto.verification_id.in_(ids), VerificationPhoto.retired_at.is_(None))
        .order_by(VerificationPhoto.id)
    ):
        photos.setdefault(p.verification_id, []).append(PhotoInfo.of(p, config.far_photo_m))
    codes = _target_codes(session, {(v.target_kind, v.target_id) for v in records})
    histories = _histories(session, ids) if history else {}
    return [
        VerificationInfo(
            id=v.id,
            target_kind=v.target_kind,
            target_id=v.target_id,
            target_code=codes.get((v.target_kind, v.target_id)),
            result=v.result,
            status=v.status,
            notes=v.notes,
            verified_by=v.verified_by,
            verified_at=v.verified_at,
            structure_id=v.structure_id,
            photos=tuple(photos.get(v.id, ())),
            history=histories.get(v.id, ()) if history else None,
        )
        for v in records
    ]


def verification_info(
    session: Session,
    v: Verification,
    *,
    config: FarmlandSettings = DEFAULT_FARMLAND,
    history: bool = False,
) -> VerificationInfo:
    """One record with its photos, target code and (when asked) status history."""
    return describe(session, [v], config=config, history=history)[0]


def list_verifications(
    session: Session,
    *,
    targets: Iterable[tuple[str, int]] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    status: str | None = None,
    config: FarmlandSettings = DEFAULT_FARMLAND,
) -> list[VerificationInfo]:
    """Current verification records, newest first, filtered by targets, time and status.

    Three queries whatever the number of records: the records, their photos, their targets'
    codes.
    """
    q = select(Verification).where(Verification.retired_at.is_(None))
    if targets is not None:
        pairs = sorted(set(targets))
        if not pairs:
            return []
        q = q.where(tuple_(Verification.target_kind, Verification.target_id).in_(pairs))
    if since is not None:
        q = q.where(Verification.verified_at >= since)
    if until is not None:
        q = q.where(Verification.verified_at < until)
    if status is not None:
        q = q.where(Verification.status == status)
    q = q.order_by(Verification.verified_at.desc(), Verification.id.desc())
    return describe(session, list(session.scalars(q)), config=config)


def open_structure_case(
    session: Session,
    verification_id: int,
    *,
    actor: str,
    category: str = "other",
    case_no: str | None = None,
    footprint: Polygon | MultiPolygon | None = None,
    address: str | None = None,
    floors: int = 1,
) -> Structure:
    """Open a suspected illegal-structure case from a parcel found occupied by construction.

    ``footprint`` (EPSG:4490) defaults to the parcel's geometry and must overlap the parcel.
    The new case is linked to the verification (``structure_id``) and cites it in its notes.
    """
    v = get_verification(session, verification_id)
    if v.target_kind != "farmland_parcel" or v.result != "construction":
        raise Conflict(
            f"verification {verification_id} is not a farmland parcel found occupied by "
            f"construction (被建设占用); its result is "
            f"{vocab.label(vocab.VERIFICATION_RESULTS, v.result)}"
        )
    if v.structure_id is not None:
        raise Conflict(
            f"verification {verification_id} already opened structure case {v.structure_id}"
        )
    parcel: FarmlandParcel = _target(session, "farmland_parcel", v.target_id)
    parcel_geom = to_shape(parcel.geom)
    geom = footprint if footprint is not None else parcel_geom
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    if geom.is_empty or not geom.is_valid:
        raise InvalidInput("footprint is empty or malformed; redraw the building outline")
    if not geom.intersects(parcel_geom) or geom.intersection(parcel_geom).area == 0:
        raise InvalidInput(
            f"footprint does not overlap parcel {parcel.patch_code}; draw it on the parcel"
        )
    # a stored time Python cannot hold reads as None (storage.safe_types): date it today
    day = v.verified_at.date() if v.verified_at is not None else sanity.beijing_today()
    no = case_no or f"NY{day:%Y%m%d}-{parcel.patch_code}-{v.id}"
    s = create_structure(
        session,
        case_no=no,
        geometry=geom,
        village_code=parcel.village_code,
        address=address,
        category=category,
        floors=floors,
        status="suspected",
        discovered_on=day,
        notes=f"由农用地核实记录 {v.id}（图斑 {parcel.patch_code}）立案；核实人 {v.verified_by}",
    )
    v.structure_id = s.id
    session.flush()
    return s
