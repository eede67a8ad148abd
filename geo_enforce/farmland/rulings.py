"""Patch rulings (变化图斑认定) and the farmland figures they decide.

A change patch is ruled legal (合法, with the approval number of the land-use approval), illegal
(违法), other (其他) or false change (伪变化), on the existing ``change_patch`` columns
(``ruling``, ``ruling_note``, ``approval_no``, ``ruled_by``, ``ruled_at``, ``status``); the
audit log keeps every earlier ruling. Evidence is the patch's before/after chips and the
verification records (with photos) that target it.

The district is judged on the share of cultivated land (耕地, GB/T 21010 0101/0102/0103) taken
by new construction that was taken illegally::

    illegal share = area(illegal patches ∩ cultivated land)
                    / area(construction patches ∩ cultivated land)

where construction patches are those ruled legal, illegal or other (false changes and unruled
patches are left out; unruled ones are counted apart so a period with open patches shows it).
Areas are ellipsoidal (PostGIS geography on CGCS2000); each patch's cultivated area intersects
it with the union of the current cultivated parcels, so adjoining parcels are not double counted.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, InvalidInput, NotFound
from geo_enforce.farmland.results import FarmlandShare, PatchRuling, RulingEvidence, RulingTotal
from geo_enforce.farmland.verify import DEFAULT_FARMLAND, list_verifications
from geo_enforce.geometry.areas import m2_to_mu
from geo_enforce.io import sanity
from geo_enforce.ledger import vocab
from geo_enforce.settings import FarmlandSettings
from geo_enforce.storage.models import ChangePatch

PERIODS = ("year", "quarter", "month")
CONSTRUCTION_RULINGS = ("legal", "illegal", "other")


def get_patch(session: Session, *, patch_id: int | None = None, code: str | None = None):
    """The current change patch by id or by code (exactly one); NotFound otherwise."""
    if (patch_id is None) == (code is None):
        raise InvalidInput("give exactly one of patch_id or code")
    q = select(ChangePatch).where(ChangePatch.retired_at.is_(None))
    q = (
        q.where(ChangePatch.id == patch_id)
        if patch_id is not None
        else q.where(ChangePatch.code == code)
    )
    patch = session.scalar(q)
    if patch is None:
        raise NotFound(f"change patch {patch_id if patch_id is not None else code} does not exist")
    return patch


def rule_patch(
    session: Session,
    *,
    ruling: str,
    actor: str,
    patch_id: int | None = None,
    code: str | None = None,
    note: str | None = None,
    approval_no: str | None = None,
    evidence_verification_ids: list[int] | None = None,
    at: dt.datetime | None = None,
) -> ChangePatch:
    """Rule a patch; a legal ruling needs ``approval_no``; closed patches cannot be re-ruled.

    ``evidence_verification_ids`` must be verifications of this patch; they are cited in the
    ruling note.
    """
    patch = get_patch(session, patch_id=patch_id, code=code)
    if ruling not in vocab.RULINGS:
        raise InvalidInput(f"ruling '{ruling}' is unknown; use one of {', '.join(vocab.RULINGS)}")
    if patch.status == "closed":
        raise Conflict(f"change patch {patch.code} is closed (已办结); it cannot be re-ruled")
    approval = (approval_no or "").strip() or None
    if ruling == "legal" and approval is None:
        raise InvalidInput(
            f"ruling change patch {patch.code} legal (合法) needs the approval number (批准文号)"
        )
    if ruling != "legal" and approval is not None:
        raise InvalidInput(
            f"an approval number is only recorded with a legal ruling, not '{ruling}'"
        )
    cited = []
    for vid in evidence_verification_ids or []:
        row = session.execute(
            text(
                "SELECT target_kind, target_id FROM verification "
                "WHERE id = :id AND retired_at IS NULL"
            ),
            {"id": vid},
        ).one_or_none()
        if row is None:
            raise NotFound(f"evidence verification {vid} does not exist")
        if row.target_kind != "change_patch" or row.target_id != patch.id:
            raise InvalidInput(f"verification {vid} is not a check of change patch {patch.code}")
        cited.append(str(vid))
    text_note = (note or "").strip()
    if cited:
        text_note = (text_note + "\n" if text_note else "") + "证据：核实记录 " + "、".join(cited)
    patch.ruling = ruling
    patch.approval_no = approval
    patch.ruling_note = text_note or None
    patch.ruled_by = actor
    patch.ruled_at = sanity.check_datetime(at, "ruled_at") if at else dt.datetime.now(dt.UTC)
    patch.status = "ruled"
    session.flush()
    return patch


def patch_ruling(
    session: Session, patch: ChangePatch, *, config: FarmlandSettings = DEFAULT_FARMLAND
) -> PatchRuling:
    """The patch's ruling with its evidence: chips and the verifications of the patch."""
    return PatchRuling(
        id=patch.id,
        code=patch.code,
        village_code=patch.village_code,
        area_m2=round(patch.area_m2, 2),
        area_mu=round(patch.area_mu, 4),
        ruling=patch.ruling,
        suggested_ruling=patch.suggested_ruling,
        approval_no=patch.approval_no,
        ruling_note=patch.ruling_note,
        ruled_by=patch.ruled_by,
        ruled_at=patch.ruled_at,
        status=patch.status,
        evidence=RulingEvidence(
            chip_before=patch.chip_before,
            chip_after=patch.chip_after,
            verifications=tuple(
                list_verifications(session, targets=[("change_patch", patch.id)], config=config)
            ),
        ),
    )


_PATCH_ROWS = """
WITH p AS (
  SELECT id, ruling, area_m2, geom, village_code,
         coalesce(detected_on, (created_at AT TIME ZONE 'Asia/Shanghai')::date) AS day
  FROM change_patch WHERE retired_at IS NULL
)
SELECT p.id, p.ruling, p.area_m2, p.day,
  coalesce((SELECT ST_Area(ST_CollectionExtract(
                     ST_Intersection(p.geom, ST_Union(f.geom)), 3)::geography)
            FROM farmland_parcel f
            WHERE f.retired_at IS NULL AND f.land_class IN :classes
              AND ST_Intersects(f.geom, p.geom)), 0) AS farmland_m2
FROM p
WHERE (CAST(:since AS date) IS NULL OR p.day >= CAST(:since AS date))
  AND (CAST(:until AS date) IS NULL OR p.day < CAST(:until AS date))
  AND (CAST(:village AS text) IS NULL OR p.village_code = CAST(:village AS text))
ORDER BY p.id
"""


def _patch_rows(
    session: Session, since: dt.date | None, until: dt.date | None, village_code: str | None
) -> list[Any]:
    stmt = text(_PATCH_ROWS).bindparams(bindparam("classes", expanding=True))
    return list(
        session.execute(
            stmt,
            {
                "classes": sorted(vocab.CULTIVATED_LAND_CLASSES),
                "since": since,
                "until": until,
                "village": village_code,
            },
        )
    )


def ruling_summary(
    session: Session,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    village_code: str | None = None,
) -> list[RulingTotal]:
    """Counts and ellipsoidal areas (m², 亩) of patches by ruling, unruled as ``pending``.

    ``since``/``until`` bound the detection date (until exclusive). Also the cultivated land
    each group covers (``farmland_m2``).
    """
    return _summary(_patch_rows(session, since, until, village_code))


def _summary(rows: list[Any]) -> list[RulingTotal]:
    acc: dict[str, list[float]] = {k: [0, 0.0, 0.0] for k in (*vocab.RULINGS, "pending")}
    for r in rows:
        a = acc[r.ruling or "pending"]
        a[0] += 1
        a[1] += r.area_m2
        a[2] += r.farmland_m2
    return [
        RulingTotal(
            ruling=k,
            count=int(n),
            area_m2=round(m2, 2),
            area_mu=round(m2_to_mu(m2), 4),
            farmland_m2=round(fm2, 2),
            farmland_mu=round(m2_to_mu(fm2), 4),
        )
        for k, (n, m2, fm2) in acc.items()
    ]


def period_key(day: dt.date, period: str) -> str:
    """The period (``2025``, ``2025-Q2`` or ``2025-04``) that ``day`` falls in."""
    if period == "year":
        return f"{day.year}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise InvalidInput(f"period '{period}' is unknown; use one of {', '.join(PERIODS)}")


def farmland_share(
    session: Session,
    *,
    period: str = "year",
    since: dt.date | None = None,
    until: dt.date | None = None,
    village_code: str | None = None,
) -> list[FarmlandShare]:
    """Per period: cultivated land taken by new construction and the share taken illegally.

    ``illegal_share_pct`` is None for a period where no construction took cultivated land.
    """
    _check_period(period)
    return _share(_patch_rows(session, since, until, village_code), period)


def ruling_overview(
    session: Session,
    *,
    period: str = "year",
    since: dt.date | None = None,
    until: dt.date | None = None,
    village_code: str | None = None,
) -> tuple[list[RulingTotal], list[FarmlandShare]]:
    """:func:`ruling_summary` and :func:`farmland_share` of the same patches, read in one query."""
    _check_period(period)
    rows = _patch_rows(session, since, until, village_code)
    return _summary(rows), _share(rows, period)


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise InvalidInput(f"period '{period}' is unknown; use one of {', '.join(PERIODS)}")


def _share(rows: list[Any], period: str) -> list[FarmlandShare]:
    groups: dict[str, dict[str, float]] = defaultdict(
        lambda: {"construction": 0, "taken": 0.0, "illegal": 0.0, "legal": 0.0, "pending": 0}
    )
    for r in rows:
        g = groups[period_key(r.day, period)]
        if r.ruling in CONSTRUCTION_RULINGS:
            g["construction"] += 1
            g["taken"] += r.farmland_m2
            if r.ruling == "illegal":
                g["illegal"] += r.farmland_m2
            elif r.ruling == "legal":
                g["legal"] += r.farmland_m2
        elif r.ruling is None:
            g["pending"] += 1
    out = []
    for key in sorted(groups):
        g = groups[key]
        taken, illegal = g["taken"], g["illegal"]
        out.append(
            FarmlandShare(
                period=key,
                construction_patches=int(g["construction"]),
                pending_patches=int(g["pending"]),
                farmland_taken_m2=round(taken, 2),
                farmland_taken_mu=round(m2_to_mu(taken), 4),
                legal_farmland_m2=round(g["legal"], 2),
                illegal_farmland_m2=round(illegal, 2),
                illegal_farmland_mu=round(m2_to_mu(illegal), 4),
                illegal_share_pct=round(100.0 * illegal / taken, 2) if taken > 0 else None,
            )
        )
    return out
