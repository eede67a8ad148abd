"""campaigns (专项治理) and line features with a safety distance (pipelines, power lines, dykes)

Revision ID: 0021_campaigns_pipelines
Revises: 0020_stock_halted_deadlines

- ``pipeline``: ``MULTILINESTRING`` in EPSG:4490 (valid, not empty), kind gas/oil/power/dyke,
  optional ``safety_distance_m`` per line; ``length_m`` is set by the trigger ``ge_measure_length``
  from the geometry (``ST_Length(geom::geography)``: geodesic on the spheroid of SRID 4490, the
  GRS 1980 parameters = the CGCS2000 ellipsoid), so every write path keeps it in step.
- ``campaign``: name, period, scope (villages, categories, rule codes as JSON arrays), target
  area (m²) and/or count with its unit (cases or households).
- ``campaign_case``: a structure tagged to a campaign, how (``rule``/``hand``), by whom, when
  and why; one current tag per campaign and structure (partial unique index); untagging
  retires the row.

All three are audited and refuse DELETE/TRUNCATE like every ledger table (the grants of
``storage/sql/grants.sql`` cover them).
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021_campaigns_pipelines"
down_revision = "0020_stock_halted_deadlines"
branch_labels = None
depends_on = None

TABLES = ("pipeline", "campaign", "campaign_case")

MEASURE_LENGTH = """
CREATE OR REPLACE FUNCTION ge_measure_length() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- geodesic length on the spheroid of SRID 4490 (GRS 1980 = CGCS2000 ellipsoid), metres
  NEW.length_m := ST_Length(NEW.geom::geography, true);
  RETURN NEW;
END $$;
"""


def _ledger_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
    ]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "pipeline",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("spec", sa.String(length=100), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("safety_distance_m", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("length_m", sa.Double(), server_default="0", nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTILINESTRING", srid=4490, dimension=2,
                from_text="ST_GeomFromEWKT", name="geometry", nullable=False,
            ),
            nullable=False,
        ),
        *_ledger_columns(),
        sa.CheckConstraint("kind IN ('gas','oil','power','dyke')", name="ck_pipeline_kind"),
        sa.CheckConstraint(
            "safety_distance_m IS NULL OR (safety_distance_m > 0 AND safety_distance_m <= 1000)",
            name="ck_pipeline_safety_distance",
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="ck_pipeline_valid"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )  # fmt: skip
    op.create_index("ix_pipeline_kind", "pipeline", ["kind"])
    op.create_table(
        "campaign",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("scope_villages", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("scope_categories", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("scope_rules", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("target_m2", sa.Double(), nullable=True),
        sa.Column("target_count", sa.BigInteger(), nullable=True),
        sa.Column("count_unit", sa.String(length=20), server_default="case", nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        *_ledger_columns(),
        sa.CheckConstraint("ends_on >= starts_on", name="ck_campaign_period"),
        sa.CheckConstraint(
            "target_m2 IS NOT NULL OR target_count IS NOT NULL", name="ck_campaign_target"
        ),
        sa.CheckConstraint("target_m2 IS NULL OR target_m2 > 0", name="ck_campaign_target_m2"),
        sa.CheckConstraint(
            "target_count IS NULL OR target_count > 0", name="ck_campaign_target_count"
        ),
        sa.CheckConstraint("count_unit IN ('case','household')", name="ck_campaign_count_unit"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "campaign_case",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("structure_id", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("tagged_by", sa.String(length=100), nullable=False),
        sa.Column("tagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_ledger_columns(),
        sa.CheckConstraint("method IN ('rule','hand')", name="ck_campaign_case_method"),
        sa.CheckConstraint("btrim(reason) <> ''", name="ck_campaign_case_reason"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["structure_id"], ["structure.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaign_case_campaign_id", "campaign_case", ["campaign_id"])
    op.create_index("ix_campaign_case_structure_id", "campaign_case", ["structure_id"])
    op.execute(
        "CREATE UNIQUE INDEX uq_campaign_case_current ON campaign_case (campaign_id, structure_id)"
        " WHERE retired_at IS NULL"
    )
    op.execute(MEASURE_LENGTH)
    op.execute(
        "CREATE TRIGGER t10_measure BEFORE INSERT OR UPDATE ON pipeline "
        "FOR EACH ROW EXECUTE FUNCTION ge_measure_length()"
    )
    for table in TABLES:
        for sql in (
            f"CREATE TRIGGER t05_touch BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_touch()",
            f"CREATE TRIGGER t90_audit AFTER INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_audit()",
            f"CREATE TRIGGER t00_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_refuse_delete()",
            f"CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_refuse_delete()",
        ):
            op.execute(sql)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP FUNCTION IF EXISTS ge_measure_length()")
