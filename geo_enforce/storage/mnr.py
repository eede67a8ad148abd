"""ORM models of the ministry's satellite patches (卫片图斑): attributes and 举证 evidence.

A ministry patch is a :class:`~geo_enforce.storage.models.ChangePatch` of ``source`` ``mnr``
with the patch number in ``source_no``; the ruling and the rectification status live on that
row (one version for the optimistic-locking check). :class:`MnrPatch` keeps what the ministry's
file said of it, :class:`MnrEvidence` the evidence filed for it (append-only, refused UPDATE and
DELETE by trigger). See ``migrations/versions/0024_mnr_patches.py``.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo_enforce.storage.models import SRID, Base, LedgerMixin, township_column


class MnrPatch(LedgerMixin, Base):
    """What the ministry's patch file says of one imported patch (one row per change patch).

    ``quarter`` (``2024Q3``) is the batch the patch came in; ``reported_area`` is the file's
    监测面积 as given (the unit the ministry uses, usually 亩); the stored patch's own areas
    are the trigger-maintained ``change_patch.area_m2``/``area_mu``.
    """

    __tablename__ = "mnr_patch"
    change_patch_id: Mapped[int] = mapped_column(
        ForeignKey("change_patch.id"), unique=True, nullable=False
    )
    quarter: Mapped[str] = mapped_column(String(6), nullable=False, index=True)
    admin_code: Mapped[str | None] = mapped_column(String(40))
    admin_name: Mapped[str | None] = mapped_column(String(100))
    reported_area: Mapped[float | None] = mapped_column(Double)
    before_date: Mapped[dt.date | None] = mapped_column(Date)
    after_date: Mapped[dt.date | None] = mapped_column(Date)
    change_type: Mapped[str | None] = mapped_column(String(100))
    source_file: Mapped[str | None] = mapped_column(Text)
    #: the file's other columns, as text, keyed by their original names
    attributes: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (CheckConstraint("quarter ~ '^[0-9]{4}Q[1-4]$'", name="ck_mnr_quarter"),)


class MnrEvidence(Base):
    """One piece of 举证 evidence of a ministry patch: a photo, a PDF or an approval number.

    Files are stored under ``data_dir/mnr_evidence`` with a generated name and their SHA-256.
    Append-only: a wrong piece is answered by a new one (with a note), never edited or deleted.
    """

    __tablename__ = "mnr_evidence"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    change_patch_id: Mapped[int] = mapped_column(ForeignKey("change_patch.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    stored_name: Mapped[str | None] = mapped_column(String(100), unique=True)
    original_name: Mapped[str | None] = mapped_column(String(300))
    content_type: Mapped[str | None] = mapped_column(String(50))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: 批准文号 (kind ``approval``; may accompany a document too)
    approval_no: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    #: photos: EXIF capture time and WGS 84 position (used as CGCS2000) when present
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    location = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)
    submitted_by: Mapped[str] = mapped_column(String(100), nullable=False)
    submitted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint("kind IN ('photo','document','approval')", name="ck_mnr_evidence_kind"),
        CheckConstraint(
            "kind = 'approval' OR (stored_name IS NOT NULL AND sha256 IS NOT NULL)",
            name="ck_mnr_evidence_file",
        ),
        CheckConstraint(
            "kind <> 'approval' OR coalesce(btrim(approval_no), '') <> ''",
            name="ck_mnr_evidence_approval",
        ),
    )
