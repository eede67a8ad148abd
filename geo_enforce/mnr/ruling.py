"""Find a ministry patch by its number; rule it and record its rectification (整改) status.

Both writes are on the ``change_patch`` row, checked against the version the caller read
(:func:`geo_enforce.storage.locking.lock_for_update`: the row stays locked to the end of the
transaction) and audited by the table's trigger. The ruling itself is
:func:`geo_enforce.farmland.rulings.rule_patch` (合法 needs the approval number, 已办结 patches
are not re-ruled); a legal ruling without an approval number takes the latest one filed as
举证. A patch ruled illegal starts 未整改 (``not_started``); any other ruling clears the
rectification status.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.farmland.rulings import rule_patch
from geo_enforce.ledger.vocab import RECTIFICATION_STATUSES
from geo_enforce.storage.locking import lock_for_update
from geo_enforce.storage.mnr import MnrEvidence, MnrPatch
from geo_enforce.storage.models import ChangePatch

SOURCE = "mnr"


def find_patch(session: Session, patch_no: str) -> tuple[ChangePatch, MnrPatch]:
    """The current ministry patch numbered ``patch_no`` (图斑编号) and its ministry attributes."""
    row = session.execute(
        select(ChangePatch, MnrPatch)
        .join(MnrPatch, MnrPatch.change_patch_id == ChangePatch.id)
        .where(
            ChangePatch.source == SOURCE,
            ChangePatch.source_no == str(patch_no)[:100],
            ChangePatch.retired_at.is_(None),
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"ministry patch (卫片图斑) {str(patch_no)[:60]!r} does not exist")
    return row[0], row[1]


def latest_approval_no(session: Session, patch_id: int) -> str | None:
    """The approval number (批准文号) filed last as 举证 of the patch, if any."""
    return session.scalar(
        select(MnrEvidence.approval_no)
        .where(MnrEvidence.change_patch_id == patch_id, MnrEvidence.approval_no.is_not(None))
        .order_by(MnrEvidence.id.desc())
        .limit(1)
    )


def rule(
    session: Session,
    patch_no: str,
    ruling: str,
    *,
    actor: str,
    expected_version: int | None,
    approval_no: str | None = None,
    note: str | None = None,
) -> ChangePatch:
    """Rule ministry patch ``patch_no`` (legal, illegal, other, false_change).

    ``expected_version`` is the patch version the caller read (None: no check, the CLI's
    default). Raises StaleVersion (409) when it moved on, InvalidInput for an unknown ruling or
    a legal ruling with no approval number given nor filed.
    """
    found, _ = find_patch(session, patch_no)
    patch = lock_for_update(session, ChangePatch, found.id, expected_version)
    approval = (approval_no or "").strip() or None
    if ruling == "legal" and approval is None:
        approval = latest_approval_no(session, patch.id)
        if approval is None:
            raise InvalidInput(
                f"ruling ministry patch {patch_no} legal (合法) needs the approval number "
                "(批准文号): give it, or file it as 举证 (evidence of kind approval) first"
            )
    rule_patch(
        session, patch_id=patch.id, ruling=ruling, actor=actor, note=note, approval_no=approval
    )
    if ruling == "illegal":
        patch.rectification = patch.rectification or "not_started"
    else:
        patch.rectification = None
    session.flush()
    return patch


def set_rectification(
    session: Session, patch_no: str, status: str, *, expected_version: int | None
) -> ChangePatch:
    """Record the rectification status (未整改/整改中/已整改) of a patch ruled illegal."""
    if status not in RECTIFICATION_STATUSES:
        allowed = ", ".join(f"{k} ({v})" for k, v in RECTIFICATION_STATUSES.items())
        raise InvalidInput(f"rectification status {str(status)[:40]!r} is unknown; use {allowed}")
    found, _ = find_patch(session, patch_no)
    patch = lock_for_update(session, ChangePatch, found.id, expected_version)
    if patch.ruling != "illegal":
        raise InvalidInput(
            f"ministry patch {patch_no} is not ruled illegal (违法) but "
            f"{patch.ruling or 'not ruled'}; only illegal patches are rectified (整改)"
        )
    patch.rectification = status
    session.flush()
    return patch
