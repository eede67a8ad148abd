"""Ministry patches as GeoJSON features: the change patch, the ministry's attributes, evidence."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.detection.patches import patch_feature
from geo_enforce.errors import InvalidInput
from geo_enforce.ledger.vocab import RECTIFICATION_STATUSES, RULINGS, label
from geo_enforce.mnr.evidence import KINDS, list_evidence
from geo_enforce.mnr.quarterly import parse_quarter
from geo_enforce.storage.mnr import MnrEvidence, MnrPatch
from geo_enforce.storage.models import ChangePatch


def evidence_dict(ev: MnrEvidence, *, file_url: str | None = None) -> dict:
    """One piece of evidence as JSON-ready values; ``file_url`` (a format string with ``{id}``)
    links to its file when it has one."""
    return {
        "id": ev.id,
        "kind": ev.kind,
        "kind_label": KINDS.get(ev.kind, ev.kind),
        "original_name": ev.original_name,
        "content_type": ev.content_type,
        "size_bytes": ev.size_bytes,
        "sha256": ev.sha256,
        "approval_no": ev.approval_no,
        "note": ev.note,
        "taken_at": ev.taken_at.isoformat() if ev.taken_at else None,
        "submitted_by": ev.submitted_by,
        "submitted_at": ev.submitted_at.isoformat() if ev.submitted_at else None,
        "file_url": file_url.format(id=ev.id) if file_url and ev.stored_name else None,
    }


def mnr_feature(
    session: Session | None,
    patch: ChangePatch,
    mnr: MnrPatch,
    *,
    with_evidence: bool = False,
    file_url: str | None = None,
) -> dict:
    """A ministry patch as a GeoJSON Feature: :func:`patch_feature`'s properties plus the patch
    number, the ministry's attributes, rectification, version and (optionally) the evidence;
    ``file_url`` is a format string with ``{patch_no}`` and ``{id}``."""
    f = patch_feature(patch)
    p = f["properties"]
    p.update(
        {
            "source": patch.source,
            "patch_no": patch.source_no,
            "quarter": mnr.quarter,
            "admin_code": mnr.admin_code,
            "admin_name": mnr.admin_name,
            "reported_area": mnr.reported_area,
            "before_date": mnr.before_date.isoformat() if mnr.before_date else None,
            "after_date": mnr.after_date.isoformat() if mnr.after_date else None,
            "change_type": mnr.change_type,
            "attributes": mnr.attributes or {},
            "approval_no": patch.approval_no,
            "ruling_note": patch.ruling_note,
            "ruled_by": patch.ruled_by,
            "ruled_at": patch.ruled_at.isoformat() if patch.ruled_at else None,
            "rectification": patch.rectification,
            "rectification_label": label(RECTIFICATION_STATUSES, patch.rectification),
            "version": patch.version,
        }
    )
    if with_evidence and session is not None:
        url = None
        if file_url:  # the patch number is a path segment: quoted, '{id}' left for each item
            url = file_url.replace("{patch_no}", quote(patch.source_no or "", safe=""))
        items = list_evidence(session, patch.id)
        p["evidence_items"] = [evidence_dict(e, file_url=url) for e in items]
    return f


def list_mnr(
    session: Session,
    *,
    quarter: str | None = None,
    ruling: str | None = None,
    rectification: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[tuple[ChangePatch, MnrPatch]], int]:
    """Current ministry patches by quarter, ruling (``pending`` for unruled) and rectification
    status, by patch number; and how many match."""
    q = (
        select(ChangePatch, MnrPatch)
        .join(MnrPatch, MnrPatch.change_patch_id == ChangePatch.id)
        .where(ChangePatch.source == "mnr", ChangePatch.retired_at.is_(None))
    )
    if quarter:
        q = q.where(MnrPatch.quarter == parse_quarter(quarter))
    if ruling == "pending":
        q = q.where(ChangePatch.ruling.is_(None))
    elif ruling is not None:
        if ruling not in RULINGS:
            raise InvalidInput(f"ruling {ruling[:30]!r}: one of {', '.join(RULINGS)}, pending")
        q = q.where(ChangePatch.ruling == ruling)
    if rectification is not None:
        if rectification not in RECTIFICATION_STATUSES:
            raise InvalidInput(
                f"rectification {rectification[:30]!r}: one of {', '.join(RECTIFICATION_STATUSES)}"
            )
        q = q.where(ChangePatch.rectification == rectification)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.execute(q.order_by(ChangePatch.source_no).limit(limit).offset(offset)).all()
    return [(r[0], r[1]) for r in rows], int(total)
