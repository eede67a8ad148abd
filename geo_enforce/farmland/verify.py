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
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from geo_enforce.ledger import vocab
from geo_enforce.ledger.edits import create_structure
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
_MOVES = {"submitted": {"reviewed", "returned"}, "returned": {"submitted"}, "reviewed": set()}
TARGET_MODELS: dict[str, type] = {
    "farmland_parcel": FarmlandParcel,
    "change_patch": ChangePatch,
    "structure": Structure,
}
TARGET_LABELS = {
    "farmland_parcel": "农用地图斑",
    "change_patch": "变化图斑",
    "structure": "违法建设",
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
    when = verified_at or _now()
    if when.tzinfo is None:
        raise InvalidInput("verified_at needs a time zone (e.g. 2026-05-01T09:30:00+08:00)")
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
    v = session.get(Verification, verification_id)
    if v is None or v.retired_at is not None:
        raise NotFound(f"verification {verification_id} does not exist (or is retired)")
    return v


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


def status_history(session: Session, verification_id: int) -> list[dict[str, Any]]:
    """Every status the record held, who set it and when, read from the audit log."""
    rows = session.execute(
        text(
            "SELECT at, actor, action, old_row->>'status' AS old, new_row->>'status' AS new "
            "FROM audit_log WHERE table_name = 'verification' AND record_id = :id ORDER BY id"
        ),
        {"id": verification_id},
    ).mappings()
    out = []
    for r in rows:
        if r["action"] == "insert" or r["old"] != r["new"] or r["action"] == "retire":
            status = "retired" if r["action"] == "retire" else r["new"]
            out.append(
                {
                    "at": r["at"].isoformat(),
                    "actor": r["actor"],
                    "from_status": r["old"],
                    "status": status,
                    "status_label": VERIFICATION_STATUSES.get(status, "已作废"),
                }
            )
    return out


_CODE_COLUMN = {"farmland_parcel": "patch_code", "change_patch": "code", "structure": "case_no"}


def _target_code(session: Session, kind: str, target_id: int) -> str | None:
    col = _CODE_COLUMN.get(kind)
    if col is None:
        return None
    return session.execute(
        text(f"SELECT {col} FROM {kind} WHERE id = :id"), {"id": target_id}
    ).scalar_one_or_none()


def verification_dict(session: Session, v: Verification, *, history: bool = False) -> dict:
    photos = session.scalars(
        select(VerificationPhoto)
        .where(VerificationPhoto.verification_id == v.id, VerificationPhoto.retired_at.is_(None))
        .order_by(VerificationPhoto.id)
    ).all()
    from geo_enforce.farmland.photos import photo_dict

    d: dict[str, Any] = {
        "id": v.id,
        "target_kind": v.target_kind,
        "target_label": TARGET_LABELS.get(v.target_kind, v.target_kind),
        "target_id": v.target_id,
        "target_code": _target_code(session, v.target_kind, v.target_id),
        "result": v.result,
        "result_label": vocab.label(vocab.VERIFICATION_RESULTS, v.result),
        "status": v.status,
        "status_label": VERIFICATION_STATUSES.get(v.status, v.status),
        "notes": v.notes,
        "verified_by": v.verified_by,
        "verified_at": v.verified_at.isoformat(),
        "structure_id": v.structure_id,
        "photos": [photo_dict(p) for p in photos],
    }
    if history:
        d["history"] = status_history(session, v.id)
    return d


def list_verifications(
    session: Session,
    *,
    targets: Iterable[tuple[str, int]] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    status: str | None = None,
) -> list[dict]:
    """Current verification records, newest first, filtered by targets, time and status."""
    q = select(Verification).where(Verification.retired_at.is_(None))
    if targets is not None:
        pairs = sorted(set(targets))
        if not pairs:
            return []
        from sqlalchemy import tuple_

        q = q.where(tuple_(Verification.target_kind, Verification.target_id).in_(pairs))
    if since is not None:
        q = q.where(Verification.verified_at >= since)
    if until is not None:
        q = q.where(Verification.verified_at < until)
    if status is not None:
        q = q.where(Verification.status == status)
    q = q.order_by(Verification.verified_at.desc(), Verification.id.desc())
    return [verification_dict(session, v) for v in session.scalars(q)]


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
    no = case_no or f"NY{v.verified_at:%Y%m%d}-{parcel.patch_code}-{v.id}"
    s = create_structure(
        session,
        case_no=no,
        geometry=geom,
        village_code=parcel.village_code,
        address=address,
        category=category,
        floors=floors,
        status="suspected",
        discovered_on=v.verified_at.date(),
        notes=f"由农用地核实记录 {v.id}（图斑 {parcel.patch_code}）立案；核实人 {v.verified_by}",
    )
    v.structure_id = s.id
    session.flush()
    return s
