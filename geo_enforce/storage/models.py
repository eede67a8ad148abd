"""ORM models of the ledger (SQLAlchemy 2 + GeoAlchemy2).

All geometries are stored in CGCS2000 geographic coordinates (EPSG:4490) and must be valid (a
CHECK constraint). ``area_m2``/``area_mu`` (and ``floor_area_m2`` of structures) are maintained
by a database trigger from the geometry (ellipsoidal area on the CGCS2000 ellipsoid), so every
write path keeps them in step. Every audited table gets an audit trigger and refuses DELETE:
records are retired (``retired_at``), never deleted. See ``migrations/versions/0001_initial.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    FetchedValue,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

SRID = 4490


class Base(DeclarativeBase):
    """The declarative base of every table."""

    pass


def _geom(kind: str = "MULTIPOLYGON", nullable: bool = False) -> Any:
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=True), nullable=nullable)


def township_column() -> Any:
    """``township_code``: the township (乡镇/街道, the code of a town ``admin_area``) a record
    belongs to. Filled by the trigger ``t20_township`` when the writer leaves it empty (from the
    geometry or the parent record) and re-derived when the geometry moves, so the ORM reads it
    back after every write; row-level security shows a session only its townships' rows
    (migration ``0030_township_scope``, :mod:`geo_enforce.storage.scope`)."""
    return mapped_column(
        String(40), FetchedValue(), server_onupdate=FetchedValue(), index=True, nullable=True
    )


class LedgerMixin:
    """Columns shared by every editable, audited record."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(100))
    retire_reason: Mapped[str | None] = mapped_column(Text)
    #: optimistic-locking version, bumped on every update (by SQLAlchemy or by the trigger)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # ORM updates send "WHERE version = <loaded>" and raise StaleDataError (HTTP 409) when
        # someone else wrote in between; see geo_enforce/storage/locking.py for the explicit checks.
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class AreaMixin:
    """Areas kept by the database from the geometry: ellipsoidal m² and 亩."""

    #: ellipsoidal area on CGCS2000, m² (trigger-maintained)
    area_m2: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    #: area_m2 in mu (1 mu = 2000/3 m²), trigger-maintained
    area_mu: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")


class AdminArea(LedgerMixin, AreaMixin, Base):
    """An administrative area (town, village, community, grid zone)."""

    __tablename__ = "admin_area"
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    level: Mapped[str] = mapped_column(String(20), nullable=False)  # vocab.ADMIN_LEVELS
    parent_code: Mapped[str | None] = mapped_column(String(40), index=True)
    geom = _geom()
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint("level IN ('town','village','community','grid')", name="ck_admin_level"),
    )


class RedLine(LedgerMixin, AreaMixin, Base):
    """A red line (planning control line) of one kind, with its approval."""

    __tablename__ = "red_line"
    code: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    approval_no: Mapped[str | None] = mapped_column(String(100))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(200))
    geom = _geom()
    __table_args__ = (
        CheckConstraint(
            "kind IN ('construction_land','road','ecological','basic_farmland',"
            "'river_blue','urban_boundary')",
            name="ck_red_line_kind",
        ),
    )


class Structure(LedgerMixin, AreaMixin, Base):
    """An illegal structure (违法建设) case."""

    __tablename__ = "structure"
    case_no: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    village_code: Mapped[str | None] = mapped_column(String(40), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    floors: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    households: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default="suspected", index=True
    )
    discovered_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    notice_on: Mapped[dt.date | None] = mapped_column(Date)
    demolished_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    #: the day new building was stopped on site (制止, status ``halted``)
    halted_on: Mapped[dt.date | None] = mapped_column(Date)
    #: deadline of the 责令限期拆除 notice (期限), set by the ``notice_served`` transition
    deadline_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    #: stock (存量) / increment (增量) set by hand over the class derived from the base date
    stock_override: Mapped[str | None] = mapped_column(String(10))
    stock_override_reason: Mapped[str | None] = mapped_column(Text)
    #: measured floor area (建筑面积) when recorded; otherwise footprint × floors
    floor_area_measured_m2: Mapped[float | None] = mapped_column(Double)
    floor_area_m2: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    # personal data of the party: never in public (公示) views
    party_name: Mapped[str | None] = mapped_column(String(100))
    party_id_no: Mapped[str | None] = mapped_column(String(30))
    party_phone: Mapped[str | None] = mapped_column(String(30))
    notes: Mapped[str | None] = mapped_column(Text)
    geom = _geom()
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint(
            "category IN ('villa','factory','steel_shed','wall','gate','courtyard','carport',"
            "'other')",
            name="ck_structure_category",
        ),
        CheckConstraint(
            "status IN ('suspected','verified','halted','notice_served','demolished',"
            "'rectified','legalized','dismissed')",
            name="ck_structure_status",
        ),
        CheckConstraint(
            "stock_override IS NULL OR (stock_override IN ('stock','increment') "
            "AND coalesce(btrim(stock_override_reason), '') <> '')",
            name="ck_structure_stock_override",
        ),
        CheckConstraint("floors >= 1 AND floors <= 100", name="ck_structure_floors"),
        CheckConstraint("households >= 0", name="ck_structure_households"),
    )


class Township(LedgerMixin, Base):
    """A township (乡镇/街道) served by the deployment, keyed by its town ``admin_area`` code.

    ``base_date`` (基准日, e.g. the baseline survey): cases discovered on or before it are stock
    (存量), later ones increment (增量); see :mod:`geo_enforce.ledger.stock`.
    """

    __tablename__ = "township"
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    base_date: Mapped[dt.date | None] = mapped_column(Date)
    base_note: Mapped[str | None] = mapped_column(Text)


class Pipeline(LedgerMixin, Base):
    """A line feature with a safety distance (管线/线路/河堤): gas, oil, power, dyke.

    ``length_m`` is the geodesic length on the CGCS2000 ellipsoid, kept by a trigger
    (``ge_measure_length``); ``safety_distance_m`` (metres each side) overrides the catalogue's
    distance for the kind. See :mod:`geo_enforce.ledger.pipelines` and migration 0021.
    """

    __tablename__ = "pipeline"
    code: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, index=True)  # PIPELINE_KINDS
    name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[str | None] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(200))
    safety_distance_m: Mapped[float | None] = mapped_column(Double)
    source: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    #: geodesic length on the CGCS2000 ellipsoid, m (trigger-maintained)
    length_m: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    geom = _geom("MULTILINESTRING")
    __table_args__ = (
        CheckConstraint("kind IN ('gas','oil','power','dyke')", name="ck_pipeline_kind"),
        CheckConstraint(
            "safety_distance_m IS NULL OR (safety_distance_m > 0 AND safety_distance_m <= 1000)",
            name="ck_pipeline_safety_distance",
        ),
    )


class StructureTransition(Base):
    """Who moved a structure case from one status to another, when and why (append-only)."""

    __tablename__ = "structure_transition"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structure.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(20), nullable=False)
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    effective_on: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    township_code: Mapped[str | None] = township_column()


class ClearedParcel(LedgerMixin, AreaMixin, Base):
    """A parcel cleared of illegal land use (治理违法占地 / 腾退地块)."""

    __tablename__ = "cleared_parcel"
    parcel_no: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    village_code: Mapped[str | None] = mapped_column(String(40), index=True)
    prior_use: Mapped[str | None] = mapped_column(String(200))
    cleared_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    restored_use: Mapped[str | None] = mapped_column(String(20))  # vocab.CLEARED_RESTORED_USES
    notes: Mapped[str | None] = mapped_column(Text)
    geom = _geom()
    township_code: Mapped[str | None] = township_column()


class FarmlandParcel(LedgerMixin, AreaMixin, Base):
    """A farmland survey patch (农用地图斑) with its GB/T 21010 land class."""

    __tablename__ = "farmland_parcel"
    patch_code: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    land_class: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    is_permanent_basic: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default="false"
    )
    village_code: Mapped[str | None] = mapped_column(String(40), index=True)
    owner_collective: Mapped[str | None] = mapped_column(String(200))
    geom = _geom()
    township_code: Mapped[str | None] = township_column()


class Flight(LedgerMixin, Base):
    """A registered drone flight: orthophoto COG, optional DSM, footprint and STAC item."""

    __tablename__ = "flight"
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    flown_on: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    gsd_m: Mapped[float] = mapped_column(Double, nullable=False)
    ortho_path: Mapped[str] = mapped_column(Text, nullable=False)
    dsm_path: Mapped[str | None] = mapped_column(Text)
    crs: Mapped[str] = mapped_column(String(60), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    band_count: Mapped[int] = mapped_column(Integer, nullable=False)
    stac: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    footprint = _geom("MULTIPOLYGON")
    township_code: Mapped[str | None] = township_column()


class DetectionRun(LedgerMixin, Base):
    """One change-detection job between two flights; resumable from its per-window state."""

    __tablename__ = "detection_run"
    before_flight_id: Mapped[int] = mapped_column(ForeignKey("flight.id"), nullable=False)
    after_flight_id: Mapped[int] = mapped_column(ForeignKey("flight.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")
    params: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    progress: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    work_dir: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending','running','done','failed','cancelled')", name="ck_run_status"
        ),
    )


class DetectorModel(LedgerMixin, Base):
    """A patch-ranking model fitted on the bureau's rulings (``geo-enforce detect learn``).

    ``model_version`` counts the fitted models (1, 2, …; ``version`` is the row's
    optimistic-locking counter). The fitted estimator is kept as bytes with their SHA-256, checked
    before loading. A retired model no longer scores new runs; patches keep their ``model_id``.
    """

    __tablename__ = "detector_model"
    model_version: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    algorithm: Mapped[str] = mapped_column(String(100), nullable=False)
    target: Mapped[str] = mapped_column(Text, nullable=False)
    features: Mapped[list] = mapped_column(JSONB, nullable=False, server_default="[]")
    n_examples: Mapped[int] = mapped_column(Integer, nullable=False)
    n_positive: Mapped[int] = mapped_column(Integer, nullable=False)
    cv_metrics: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    #: patches scoring below this are set aside as likely 伪变化
    set_aside_below: Mapped[float] = mapped_column(Double, nullable=False)
    model_bytes: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    model_sha256: Mapped[str] = mapped_column(String(64), nullable=False)


class ChangePatch(LedgerMixin, AreaMixin, Base):
    """A detected change (变化图斑) with rule hits, ruling and evidence chips."""

    __tablename__ = "change_patch"
    run_id: Mapped[int | None] = mapped_column(ForeignKey("detection_run.id"), index=True)
    before_flight_id: Mapped[int | None] = mapped_column(ForeignKey("flight.id"))
    after_flight_id: Mapped[int | None] = mapped_column(ForeignKey("flight.id"))
    code: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    village_code: Mapped[str | None] = mapped_column(String(40), index=True)
    change_kind: Mapped[str] = mapped_column(String(20), nullable=False, server_default="new")
    height_gain_mean_m: Mapped[float | None] = mapped_column(Double)
    height_gain_max_m: Mapped[float | None] = mapped_column(Double)
    confidence: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    rule_hits: Mapped[list] = mapped_column(JSONB, nullable=False, server_default="[]")
    suggested_ruling: Mapped[str | None] = mapped_column(String(20))
    ruling: Mapped[str | None] = mapped_column(String(20), index=True)
    ruling_note: Mapped[str | None] = mapped_column(Text)
    approval_no: Mapped[str | None] = mapped_column(String(100))
    ruled_by: Mapped[str | None] = mapped_column(String(100))
    ruled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="new")
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structure.id"), index=True)
    chip_before: Mapped[str | None] = mapped_column(Text)  # stored file name under data_dir
    chip_after: Mapped[str | None] = mapped_column(Text)
    detected_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    #: what the detector measured (height_gain_m, planarity_rmse_m, colour_change, exg, …)
    evidence: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    #: the learned model that scored this patch (None: unsupervised confidence only)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("detector_model.id"), index=True)
    learned_score: Mapped[float | None] = mapped_column(Double)
    #: a likely 伪变化 by the learned model: kept, listed apart, never deleted
    set_aside: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    #: ``flight`` (own change detection) or ``mnr`` (ministry satellite patch, 卫片图斑)
    source: Mapped[str] = mapped_column(
        String(10), nullable=False, server_default="flight", index=True
    )
    #: the source's own patch number (图斑编号), unique per source; None for flight patches
    source_no: Mapped[str | None] = mapped_column(String(60))
    #: 整改状态 of a patch ruled illegal (vocab.RECTIFICATION_STATUSES)
    rectification: Mapped[str | None] = mapped_column(String(20))
    geom = _geom()
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint(
            "ruling IS NULL OR ruling IN ('legal','illegal','other','false_change')",
            name="ck_patch_ruling",
        ),
        CheckConstraint(
            "source IN ('flight','mnr') AND (source = 'flight' OR source_no IS NOT NULL)",
            name="ck_patch_source",
        ),
        CheckConstraint(
            "rectification IS NULL OR rectification IN ('not_started','in_progress','done')",
            name="ck_patch_rectification",
        ),
        UniqueConstraint("source", "source_no", name="uq_change_patch_source_no"),
        CheckConstraint(
            "status IN ('new','under_review','ruled','closed')", name="ck_patch_status"
        ),
    )


class Verification(LedgerMixin, Base):
    """A liaison's field check of a farmland parcel, change patch or structure."""

    __tablename__ = "verification"
    target_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    target_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    result: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="submitted")
    notes: Mapped[str | None] = mapped_column(Text)
    verified_by: Mapped[str] = mapped_column(String(100), nullable=False)
    verified_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structure.id"))
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint(
            "target_kind IN ('farmland_parcel','change_patch','structure')", name="ck_verif_kind"
        ),
        CheckConstraint(
            "result IN ('farmland','construction','facility_agri','rural_road','abandoned',"
            "'other')",
            name="ck_verif_result",
        ),
    )


class VerificationPhoto(LedgerMixin, Base):
    """A JPEG attached to a verification, with its EXIF position, heading and time."""

    __tablename__ = "verification_photo"
    verification_id: Mapped[int] = mapped_column(ForeignKey("verification.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    original_name: Mapped[str | None] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(50), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heading_deg: Mapped[float | None] = mapped_column(Double)
    distance_to_target_m: Mapped[float | None] = mapped_column(Double)
    location = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)
    township_code: Mapped[str | None] = township_column()


class AppUser(LedgerMixin, Base):
    """A user of the API with a role."""

    __tablename__ = "app_user"
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    __table_args__ = (
        CheckConstraint(
            "role IN ('viewer','liaison','inspector','editor','admin')", name="ck_user_role"
        ),
    )


class ApiToken(LedgerMixin, Base):
    """An API token: only its SHA-256 is stored; expiring and revocable (retired)."""

    __tablename__ = "api_token"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    label: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditLog(Base):
    """Written only by the audit trigger; append-only (UPDATE/DELETE refused)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    record_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    action: Mapped[str] = mapped_column(String(10), nullable=False)  # insert|update|retire
    actor: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
    txid: Mapped[int] = mapped_column(BigInteger, nullable=False)
    old_row: Mapped[dict | None] = mapped_column(JSONB)
    new_row: Mapped[dict | None] = mapped_column(JSONB)
    #: the township of the row described (copied by the trigger; RLS shows a session its own)
    township_code: Mapped[str | None] = mapped_column(String(40), index=True)


#: Tables whose rows are audited by trigger and can only be retired.
AUDITED_TABLES: tuple[str, ...] = (
    "admin_area",
    "red_line",
    "structure",
    "structure_transition",
    "cleared_parcel",
    "farmland_parcel",
    "flight",
    "detection_run",
    "change_patch",
    "verification",
    "verification_photo",
    "app_user",
    "api_token",
    "township",
    "mnr_patch",
    "mnr_evidence",
)

#: Tables whose ``geom`` drives trigger-maintained ``area_m2``/``area_mu``.
MEASURED_TABLES = (
    "admin_area",
    "red_line",
    "structure",
    "cleared_parcel",
    "farmland_parcel",
    "change_patch",
)

#: Layer name → model, for import/export and collections.
LAYER_MODELS: dict[str, type[Base]] = {
    "admin_area": AdminArea,
    "red_line": RedLine,
    "structure": Structure,
    "cleared_parcel": ClearedParcel,
    "farmland_parcel": FarmlandParcel,
    "change_patch": ChangePatch,
    "pipeline": Pipeline,
}

# Campaigns (专项治理) live in geo_enforce.storage.campaigns (issue 16 item 4); not imported
# here, so importing it first is no cycle.
AUDITED_TABLES += ("pipeline", "campaign", "campaign_case")

# Field capture (issue 15) lives in geo_enforce.storage.field_models (append-only tables, no
# relationships from these models); not imported here, so importing it first is no cycle.
AUDITED_TABLES += ("patrol_record", "case_evidence", "capture_file", "transition_evidence")

# Users' townships (issue 16 item 7) live in geo_enforce.storage.township_models.
AUDITED_TABLES += ("user_township",)
