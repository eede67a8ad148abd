"""Typed results of the farmland work: parcels, photos, verifications, overlay and rulings.

Plain frozen dataclasses with codes and numbers only: Chinese labels of the codes and the URLs
of stored files are added by whoever presents them (the API's response models, the printable
sheet, the CLI). Areas are m² on the CGCS2000 ellipsoid and 亩 (1 亩 = 2000/3 m²); shares are
percentages of the checked target's area; positions are EPSG:4490 lon/lat; times are aware.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, is_dataclass
from typing import Any, Literal

from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geo_enforce.storage.models import FarmlandParcel, VerificationPhoto


@dataclass(frozen=True)
class ParcelInfo:
    """A farmland parcel (农用地图斑) as the look-up and the overlay report give it."""

    id: int
    patch_code: str
    land_class: str
    is_permanent_basic: bool
    village_code: str | None
    owner_collective: str | None
    area_m2: float
    area_mu: float

    @classmethod
    def of(cls, p: FarmlandParcel) -> ParcelInfo:
        """The summary of a stored parcel (areas rounded to 0.01 m² and 0.0001 亩)."""
        return cls(
            id=p.id,
            patch_code=p.patch_code,
            land_class=p.land_class,
            is_permanent_basic=p.is_permanent_basic,
            village_code=p.village_code,
            owner_collective=p.owner_collective,
            area_m2=round(p.area_m2, 2),
            area_mu=round(p.area_mu, 4),
        )


@dataclass(frozen=True)
class PhotoInfo:
    """A stored verification photo: where (lon/lat), which way (heading °), when, how far."""

    id: int
    verification_id: int
    #: the generated file name under ``data_dir/photos`` (never shown to users)
    stored_name: str
    original_name: str | None
    size_bytes: int
    sha256: str
    taken_at: dt.datetime | None
    heading_deg: float | None
    lon: float | None
    lat: float | None
    #: geodesic distance to the checked target (m, 0 inside it)
    distance_to_target_m: float | None
    #: farther from the target than ``FarmlandSettings.far_photo_m``
    far: bool

    @classmethod
    def of(cls, p: VerificationPhoto, far_photo_m: float) -> PhotoInfo:
        """The summary of a stored photo; ``far`` judged against ``far_photo_m`` metres."""
        loc = to_shape(p.location) if p.location is not None else None
        dist = p.distance_to_target_m
        return cls(
            id=p.id,
            verification_id=p.verification_id,
            stored_name=p.stored_name,
            original_name=p.original_name,
            size_bytes=p.size_bytes,
            sha256=p.sha256,
            taken_at=p.taken_at,
            heading_deg=p.heading_deg,
            lon=round(loc.x, 7) if loc is not None else None,
            lat=round(loc.y, 7) if loc is not None else None,
            distance_to_target_m=round(dist, 1) if dist is not None else None,
            far=bool(dist is not None and dist > far_photo_m),
        )


@dataclass(frozen=True)
class PhotoPoint:
    """A photo on the map layer with the verification it belongs to."""

    photo: PhotoInfo
    result: str
    verified_by: str


@dataclass(frozen=True)
class StatusChange:
    """One status a verification held, from the audit log (``status`` 'retired' at the end)."""

    at: dt.datetime
    actor: str
    from_status: str | None
    status: str


@dataclass(frozen=True)
class VerificationInfo:
    """A verification record with its photos (and, when asked for, its status history)."""

    id: int
    target_kind: str
    target_id: int
    #: patch code, change-patch code or case number of the target
    target_code: str | None
    result: str
    status: str
    notes: str | None
    verified_by: str
    verified_at: dt.datetime
    structure_id: int | None
    photos: tuple[PhotoInfo, ...] = ()
    history: tuple[StatusChange, ...] | None = None


@dataclass(frozen=True)
class AreaShare:
    """An area (m², 亩) and its share (%) of the target."""

    area_m2: float
    area_mu: float
    share_pct: float


@dataclass(frozen=True)
class LandClassShare(AreaShare):
    """The part of the target in one land class (GB/T 21010 code)."""

    land_class: str = ""
    cultivated: bool = False


@dataclass(frozen=True)
class RedLineShare(AreaShare):
    """The part of the target inside the union of the red lines of one kind."""

    kind: str = ""


@dataclass(frozen=True)
class Approval:
    """An approved construction-land red line the target overlaps."""

    id: int
    code: str
    name: str | None
    approval_no: str | None
    overlap_m2: float
    share_pct: float


@dataclass(frozen=True)
class ApprovedConstruction(AreaShare):
    """The part of the target on approved construction land, with the approvals."""

    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class Overlap:
    """One stored feature overlapping the target (the layer decides the extra attributes)."""

    id: int
    code: str
    village_code: str | None
    feature_area_m2: float
    overlap_m2: float
    overlap_mu: float
    share_pct: float


@dataclass(frozen=True)
class ParcelOverlap(Overlap):
    """An overlapping farmland parcel."""

    land_class: str = ""
    is_permanent_basic: bool = False


@dataclass(frozen=True)
class StructureOverlap(Overlap):
    """An overlapping illegal-structure case."""

    category: str = ""
    status: str = ""
    floors: int | None = None


@dataclass(frozen=True)
class PatchOverlap(Overlap):
    """An overlapping change patch."""

    change_kind: str | None = None
    ruling: str | None = None
    status: str = ""
    detected_on: dt.date | None = None


@dataclass(frozen=True)
class ClearedOverlap(Overlap):
    """An overlapping cleared parcel."""

    prior_use: str | None = None
    cleared_on: dt.date | None = None
    restored_use: str | None = None


@dataclass(frozen=True)
class RedLineOverlap(Overlap):
    """An overlapping red line."""

    kind: str = ""
    name: str | None = None
    approval_no: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class Overlaps:
    """The overlapping features per layer, largest overlap first."""

    farmland_parcel: tuple[ParcelOverlap, ...] = ()
    structure: tuple[StructureOverlap, ...] = ()
    change_patch: tuple[PatchOverlap, ...] = ()
    cleared_parcel: tuple[ClearedOverlap, ...] = ()
    red_line: tuple[RedLineOverlap, ...] = ()


@dataclass(frozen=True)
class OverlayTarget:
    """What the overlay report checks: a stored parcel or a drawn/uploaded polygon."""

    kind: Literal["parcel", "polygon"]
    parcel: ParcelInfo | None
    area_m2: float
    area_mu: float
    #: (west, south, east, north), EPSG:4490
    bounds: tuple[float, float, float, float]
    geometry: BaseGeometry

    @property
    def title(self) -> str:
        """How sheets and pages name the target (图斑 <code>, or the custom polygon)."""
        if self.parcel is not None:
            return f"图斑 {self.parcel.patch_code}"
        return "自定义范围 (custom polygon)"


@dataclass(frozen=True)
class OverlayReport:
    """The overlay report of one target against every stored layer (see ``overlay.py``)."""

    target: OverlayTarget
    land_classes: tuple[LandClassShare, ...]
    permanent_basic: AreaShare
    approved_construction: ApprovedConstruction
    red_lines: tuple[RedLineShare, ...]
    structures_dissolved: AreaShare
    overlaps: Overlaps
    verifications: tuple[VerificationInfo, ...]
    method: str
    generated_at: dt.datetime


@dataclass(frozen=True)
class RulingEvidence:
    """What a ruling rests on: the patch's before/after chips and the verifications of it."""

    chip_before: str | None
    chip_after: str | None
    verifications: tuple[VerificationInfo, ...] = ()


@dataclass(frozen=True)
class PatchRuling:
    """A change patch's ruling (认定) with its evidence."""

    id: int
    code: str
    village_code: str | None
    area_m2: float
    area_mu: float
    ruling: str | None
    suggested_ruling: str | None
    approval_no: str | None
    ruling_note: str | None
    ruled_by: str | None
    ruled_at: dt.datetime | None
    status: str
    evidence: RulingEvidence = field(default_factory=lambda: RulingEvidence(None, None))


@dataclass(frozen=True)
class RulingTotal:
    """Count and areas of the patches with one ruling (``pending``: not ruled yet)."""

    ruling: str
    count: int
    area_m2: float
    area_mu: float
    #: cultivated land (耕地) the patches cover
    farmland_m2: float
    farmland_mu: float


@dataclass(frozen=True)
class FarmlandShare:
    """Per period: cultivated land taken by new construction and the share taken illegally."""

    period: str
    construction_patches: int
    pending_patches: int
    farmland_taken_m2: float
    farmland_taken_mu: float
    legal_farmland_m2: float
    illegal_farmland_m2: float
    illegal_farmland_mu: float
    #: None when no construction took cultivated land in the period
    illegal_share_pct: float | None


def plain(result: Any) -> Any:
    """A result as JSON-ready values (codes, no labels): geometries as GeoJSON, times as ISO."""
    if is_dataclass(result) and not isinstance(result, type):
        return {k: plain(getattr(result, k)) for k in result.__dataclass_fields__}
    if isinstance(result, BaseGeometry):
        return mapping(result)
    if isinstance(result, dt.date):  # dates and datetimes
        return result.isoformat()
    if isinstance(result, list | tuple):
        return [plain(v) for v in result]
    if isinstance(result, dict):
        return {k: plain(v) for k, v in result.items()}
    return result
