"""Response models of the farmland endpoints: the library's typed results plus labels and URLs.

:mod:`geo_enforce.farmland` returns codes and numbers (:mod:`geo_enforce.farmland.results`);
the Chinese labels of the codes, layer titles and the URLs of stored photos are added here,
where the API decides its routes. Times are ISO 8601 text (as stored, with offset).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from pydantic import BaseModel
from shapely.geometry import mapping

from geo_enforce.farmland.results import (
    AreaShare,
    Overlap,
    OverlayReport,
    ParcelInfo,
    PatchRuling,
    PhotoInfo,
    PhotoPoint,
    RulingTotal,
    StatusChange,
    VerificationInfo,
)
from geo_enforce.farmland.verify import VERIFICATION_STATUSES
from geo_enforce.io.catalogue import layer_title
from geo_enforce.io.sanity import safe_iso
from geo_enforce.ledger import vocab
from geo_enforce.webmap.photos import photo_points_geojson

#: Where the API serves a stored photo (``api/routers/verifications.py``).
PHOTO_PATH = "/verifications/{verification_id}/photos/{photo_id}"


def _values(result: Any, *leave_out: str) -> dict[str, Any]:
    """The fields of a result dataclass (one level, not recursed), but for ``leave_out``."""
    return {f.name: getattr(result, f.name) for f in fields(result) if f.name not in leave_out}


def photo_url(p: PhotoInfo) -> str:
    """The API path of a stored photo."""
    return PHOTO_PATH.format(verification_id=p.verification_id, photo_id=p.id)


class ParcelOut(BaseModel):
    id: int
    patch_code: str
    land_class: str
    land_class_label: str
    is_permanent_basic: bool
    village_code: str | None
    owner_collective: str | None
    area_m2: float
    area_mu: float

    @classmethod
    def of(cls, p: ParcelInfo) -> ParcelOut:
        """The parcel with its land class label."""
        return cls(**asdict(p), land_class_label=vocab.label(vocab.LAND_CLASSES, p.land_class))


class PhotoOut(BaseModel):
    id: int
    verification_id: int
    original_name: str | None
    size_bytes: int
    sha256: str
    taken_at: str | None
    heading_deg: float | None
    lon: float | None
    lat: float | None
    distance_to_target_m: float | None
    far: bool
    url: str

    @classmethod
    def of(cls, p: PhotoInfo) -> PhotoOut:
        """The photo with its URL."""
        return cls(**{**asdict(p), "taken_at": safe_iso(p.taken_at)}, url=photo_url(p))


class StatusChangeOut(BaseModel):
    at: str
    actor: str
    from_status: str | None
    status: str
    status_label: str

    @classmethod
    def of(cls, h: StatusChange) -> StatusChangeOut:
        """The change with the status label ('已作废' for retired)."""
        return cls(
            **_values(h, "at"),
            at=safe_iso(h.at) or "",
            status_label=VERIFICATION_STATUSES.get(h.status, "已作废"),
        )


class VerificationOut(BaseModel):
    id: int
    target_kind: str
    target_label: str
    target_id: int
    target_code: str | None
    result: str
    result_label: str
    status: str
    status_label: str
    notes: str | None
    verified_by: str
    verified_at: str
    structure_id: int | None
    photos: list[PhotoOut]
    #: the status history (detail responses only)
    history: list[StatusChangeOut] | None = None

    @classmethod
    def of(cls, v: VerificationInfo) -> VerificationOut:
        """The record with labels, photo URLs and (when read) its history."""
        return cls(
            **_values(v, "verified_at", "photos", "history"),
            target_label=layer_title(v.target_kind),
            result_label=vocab.label(vocab.VERIFICATION_RESULTS, v.result),
            status_label=VERIFICATION_STATUSES.get(v.status, v.status),
            verified_at=safe_iso(v.verified_at) or "",
            photos=[PhotoOut.of(p) for p in v.photos],
            history=None if v.history is None else [StatusChangeOut.of(h) for h in v.history],
        )


def photo_points_out(points: list[PhotoPoint]) -> dict[str, Any]:
    """The photo-point layer as GeoJSON, each point with its photo's URL."""
    return photo_points_geojson(points, photo_url)


class AreaOut(BaseModel):
    area_m2: float
    area_mu: float
    share_pct: float


def _area(a: AreaShare) -> dict[str, float]:
    return {"area_m2": a.area_m2, "area_mu": a.area_mu, "share_pct": a.share_pct}


class LandClassOut(AreaOut):
    land_class: str
    label: str
    cultivated: bool


class RedLineOut(AreaOut):
    kind: str
    label: str


class ApprovalOut(BaseModel):
    id: int
    code: str
    name: str | None
    approval_no: str | None
    overlap_m2: float
    share_pct: float


class ApprovedConstructionOut(AreaOut):
    approvals: list[ApprovalOut]


class TargetOut(BaseModel):
    kind: Literal["parcel", "polygon"]
    parcel: ParcelOut | None
    label: str
    area_m2: float
    area_mu: float
    bounds: list[float]
    #: GeoJSON geometry, EPSG:4490 lon/lat
    geometry: dict[str, Any]


#: per layer: the attributes of an overlapping feature that get a label, with their vocabulary
_OVERLAP_LABELS: dict[str, tuple[tuple[str, str, dict[str, str]], ...]] = {
    "farmland_parcel": (("land_class", "land_class_label", vocab.LAND_CLASSES),),
    "structure": (
        ("category", "category_label", vocab.STRUCTURE_CATEGORIES),
        ("status", "status_label", vocab.STRUCTURE_STATUSES),
    ),
    "change_patch": (
        ("ruling", "ruling_label", vocab.RULINGS),
        ("status", "status_label", vocab.PATCH_STATUSES),
    ),
    "cleared_parcel": (("restored_use", "restored_use_label", vocab.CLEARED_RESTORED_USES),),
    "red_line": (("kind", "kind_label", vocab.RED_LINE_KINDS),),
}


def overlap_out(table: str, o: Overlap) -> dict[str, Any]:
    """One overlapping feature: its values (dates as ISO text) and the labels of its codes."""
    d: dict[str, Any] = {
        k: safe_iso(v) if hasattr(v, "isoformat") else v for k, v in asdict(o).items()
    }
    if table == "red_line":
        d.pop("village_code", None)  # red lines belong to no village
    for code, key, values in _OVERLAP_LABELS[table]:
        d[key] = vocab.label(values, d[code])
    if table == "change_patch":
        d["ruling_label"] = d["ruling_label"] or "未认定"
    return d


class OverlayOut(BaseModel):
    target: TargetOut
    land_classes: list[LandClassOut]
    permanent_basic: AreaOut
    approved_construction: ApprovedConstructionOut
    red_lines: list[RedLineOut]
    structures_dissolved: AreaOut
    #: per layer (farmland_parcel, structure, change_patch, cleared_parcel, red_line): the
    #: overlapping features with their attributes and labels, largest overlap first
    overlaps: dict[str, list[dict[str, Any]]]
    verifications: list[VerificationOut]
    method: str
    generated_at: str

    @classmethod
    def of(cls, r: OverlayReport) -> OverlayOut:
        """The report with labels, the target as GeoJSON and photo URLs."""
        t = r.target
        ac = r.approved_construction
        return cls(
            target=TargetOut(
                kind=t.kind,
                parcel=ParcelOut.of(t.parcel) if t.parcel is not None else None,
                label=t.title,
                area_m2=t.area_m2,
                area_mu=t.area_mu,
                bounds=list(t.bounds),
                geometry=dict(mapping(t.geometry)),
            ),
            land_classes=[
                LandClassOut(
                    **_area(c),
                    land_class=c.land_class,
                    label=vocab.label(vocab.LAND_CLASSES, c.land_class),
                    cultivated=c.cultivated,
                )
                for c in r.land_classes
            ],
            permanent_basic=AreaOut(**_area(r.permanent_basic)),
            approved_construction=ApprovedConstructionOut(
                **_area(ac), approvals=[ApprovalOut(**asdict(a)) for a in ac.approvals]
            ),
            red_lines=[
                RedLineOut(**_area(x), kind=x.kind, label=vocab.label(vocab.RED_LINE_KINDS, x.kind))
                for x in r.red_lines
            ],
            structures_dissolved=AreaOut(**_area(r.structures_dissolved)),
            overlaps={
                table: [overlap_out(table, o) for o in getattr(r.overlaps, table)]
                for table in _OVERLAP_LABELS
            },
            verifications=[VerificationOut.of(v) for v in r.verifications],
            method=r.method,
            generated_at=safe_iso(r.generated_at) or "",
        )


class EvidenceOut(BaseModel):
    chip_before: str | None
    chip_after: str | None
    verifications: list[VerificationOut]


class PatchRulingOut(BaseModel):
    id: int
    code: str
    village_code: str | None
    area_m2: float
    area_mu: float
    ruling: str | None
    ruling_label: str
    suggested_ruling: str | None
    approval_no: str | None
    ruling_note: str | None
    ruled_by: str | None
    ruled_at: str | None
    status: str
    status_label: str
    evidence: EvidenceOut

    @classmethod
    def of(cls, p: PatchRuling) -> PatchRulingOut:
        """The ruling with its labels and the evidence's verifications."""
        return cls(
            **_values(p, "ruled_at", "evidence"),
            ruling_label=vocab.label(vocab.RULINGS, p.ruling) or "未认定",
            ruled_at=safe_iso(p.ruled_at),
            status_label=vocab.label(vocab.PATCH_STATUSES, p.status),
            evidence=EvidenceOut(
                chip_before=p.evidence.chip_before,
                chip_after=p.evidence.chip_after,
                verifications=[VerificationOut.of(v) for v in p.evidence.verifications],
            ),
        )


@dataclass(frozen=True)
class SummaryRow(RulingTotal):
    """A ruling's total with the ruling's label ('未认定' for pending)."""

    label: str = ""

    @classmethod
    def of(cls, t: RulingTotal) -> SummaryRow:
        """The total with its label."""
        return cls(**asdict(t), label=vocab.RULINGS.get(t.ruling, "未认定"))
