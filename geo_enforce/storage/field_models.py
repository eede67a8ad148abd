"""ORM models of field capture (issue 15): patrol records, case evidence and their files.

- ``patrol_record`` (巡查记录): where (a GPS ``location`` and/or a sketched ``sketch``
  polygon), when (``observed_at``), what (``category``, ``note``); linked to a case
  (``structure_id``) when it concerns one or opened one (``opened_case``). A capture naming a
  case that was closed meanwhile is kept unlinked with ``conflict_case_id`` and the message.
- ``case_evidence`` (取证): one capture on an existing case in a stage (现场检查, 责令限期拆除
  送达, 拆除前/中/后, 制止).
- ``capture_file``: a photo, video or PDF of a patrol record or evidence, with its SHA-256 taken
  when received, and time and position from EXIF or the device.
- ``transition_evidence``: the evidence a status transition cites (a demolition closed with its
  拆除后 photos).
- ``capture_key``: the idempotency key of each capture POST and what it stored, so a retried
  sync returns the stored record instead of storing it twice.

Every one of them is append-only: a database trigger refuses UPDATE, DELETE and TRUNCATE
(migration ``0029_field_capture``); all but ``capture_key`` are audited by ``ge_audit``.
Geometries are EPSG:4490.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo_enforce.storage.models import SRID, Base, township_column


def _point() -> Mapped:
    return mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)


class PatrolRecord(Base):
    """A patrol record (巡查记录), append-only."""

    __tablename__ = "patrol_record"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    observed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    category: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    location = _point()
    #: GPS accuracy the device reported, metres
    accuracy_m: Mapped[float | None] = mapped_column(Double)
    sketch = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=True)
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structure.id"), index=True)
    #: this record opened its case (a new suspected structure, 新增疑似违建)
    opened_case: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    #: the case the capture named but which was closed when it arrived (kept unlinked)
    conflict_case_id: Mapped[int | None] = mapped_column(ForeignKey("structure.id"), index=True)
    conflict_note: Mapped[str | None] = mapped_column(Text)
    #: evidence stage of a conflicting evidence capture kept as this record
    conflict_stage: Mapped[str | None] = mapped_column(String(20))
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint("location IS NOT NULL OR sketch IS NOT NULL", name="ck_patrol_where"),
        CheckConstraint(
            "sketch IS NULL OR (ST_IsValid(sketch) AND NOT ST_IsEmpty(sketch))",
            name="ck_patrol_sketch_valid",
        ),
        CheckConstraint(
            "NOT opened_case OR structure_id IS NOT NULL", name="ck_patrol_opened_case"
        ),
    )


class CaseEvidence(Base):
    """Evidence captured on an existing case in one stage (取证), append-only."""

    __tablename__ = "case_evidence"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    structure_id: Mapped[int] = mapped_column(
        ForeignKey("structure.id"), nullable=False, index=True
    )
    stage: Mapped[str] = mapped_column(String(20), nullable=False)
    observed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    location = _point()
    accuracy_m: Mapped[float | None] = mapped_column(Double)
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint(
            "stage IN ('inspection','notice_served','before','during','after','halted')",
            name="ck_evidence_stage",
        ),
    )


class CaptureFile(Base):
    """A photo, video or PDF of a patrol record or of evidence, append-only."""

    __tablename__ = "capture_file"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    patrol_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_record.id"), index=True)
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("case_evidence.id"), index=True)
    #: relative to data_dir (``evidence/<generated name>``, storage.paths.to_stored)
    path: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    original_name: Mapped[str | None] = mapped_column(String(300))
    media: Mapped[str] = mapped_column(String(10), nullable=False)  # photo|video|document
    content_type: Mapped[str] = mapped_column(String(50), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    time_source: Mapped[str | None] = mapped_column(String(10))  # exif|device
    location = _point()
    position_source: Mapped[str | None] = mapped_column(String(10))  # exif|device
    heading_deg: Mapped[float | None] = mapped_column(Double)
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint("num_nonnulls(patrol_id, evidence_id) = 1", name="ck_capture_file_owner"),
        CheckConstraint("media IN ('photo','video','document')", name="ck_capture_file_media"),
        CheckConstraint(
            "time_source IS NULL OR time_source IN ('exif','device')", name="ck_capture_time_src"
        ),
        CheckConstraint(
            "position_source IS NULL OR position_source IN ('exif','device')",
            name="ck_capture_pos_src",
        ),
    )


class TransitionEvidence(Base):
    """Evidence a status transition cites (e.g. 拆除后 photos closing a demolition)."""

    __tablename__ = "transition_evidence"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    transition_id: Mapped[int] = mapped_column(
        ForeignKey("structure_transition.id"), nullable=False, index=True
    )
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("case_evidence.id"), nullable=False, index=True
    )
    township_code: Mapped[str | None] = township_column()


class CaptureKey(Base):
    """The idempotency key of one capture POST and the record it stored (append-only)."""

    __tablename__ = "capture_key"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    #: SHA-256 of the request's canonical content (fields and files' SHA-256)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # patrol|evidence
    record_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: stored: as asked; conflict: the case was closed, kept as an unlinked patrol record
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    __table_args__ = (
        CheckConstraint("kind IN ('patrol','evidence')", name="ck_capture_key_kind"),
        CheckConstraint("outcome IN ('stored','conflict')", name="ck_capture_key_outcome"),
    )
