"""ORM models of campaigns (专项治理), issue 16 item 4.

(The line layer ``pipeline`` is a layer like the others: :class:`~geo_enforce.storage.models.
Pipeline`.)

- ``campaign``: a named campaign with its period, scope (villages, categories, rules) and a
  target area (m²) and/or count (cases or households).
- ``campaign_case``: a structure case tagged to a campaign, by its scope rules or by hand, with
  who and when; untagging retires the row (never deleted), so the tag history stays.

Both are audited like every ledger table (migration ``0021_campaigns_pipelines``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Double, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo_enforce.storage.models import Base, LedgerMixin, township_column


class Campaign(LedgerMixin, Base):
    """A campaign (专项治理) with period, scope and target."""

    __tablename__ = "campaign"
    code: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    #: scope: village codes, structure categories, rule codes (empty: no restriction)
    scope_villages: Mapped[list] = mapped_column(JSONB, nullable=False, server_default="[]")
    scope_categories: Mapped[list] = mapped_column(JSONB, nullable=False, server_default="[]")
    scope_rules: Mapped[list] = mapped_column(JSONB, nullable=False, server_default="[]")
    target_m2: Mapped[float | None] = mapped_column(Double)
    target_count: Mapped[int | None] = mapped_column(BigInteger)
    count_unit: Mapped[str] = mapped_column(String(20), nullable=False, server_default="case")
    notes: Mapped[str | None] = mapped_column(Text)
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ck_campaign_period"),
        CheckConstraint(
            "target_m2 IS NOT NULL OR target_count IS NOT NULL", name="ck_campaign_target"
        ),
        CheckConstraint("target_m2 IS NULL OR target_m2 > 0", name="ck_campaign_target_m2"),
        CheckConstraint(
            "target_count IS NULL OR target_count > 0", name="ck_campaign_target_count"
        ),
        CheckConstraint("count_unit IN ('case','household')", name="ck_campaign_count_unit"),
    )


class CampaignCase(LedgerMixin, Base):
    """A structure case tagged to a campaign (current while ``retired_at`` is NULL)."""

    __tablename__ = "campaign_case"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structure.id"), index=True)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    tagged_by: Mapped[str] = mapped_column(String(100), nullable=False)
    tagged_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: the rule codes that matched (by rule) or the editor's reason (by hand)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    township_code: Mapped[str | None] = township_column()
    __table_args__ = (
        CheckConstraint("method IN ('rule','hand')", name="ck_campaign_case_method"),
        CheckConstraint("btrim(reason) <> ''", name="ck_campaign_case_reason"),
    )
