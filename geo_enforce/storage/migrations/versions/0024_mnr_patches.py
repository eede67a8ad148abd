"""ministry satellite patches (卫片图斑): source and patch number, 举证 evidence, rectification

Revision ID: 0024_mnr_patches
Revises: 0020_stock_halted_deadlines

- ``change_patch.source``: ``flight`` (found by the project's own change detection, every
  existing row) or ``mnr`` (a satellite patch the ministry sent, 卫片执法图斑);
  ``change_patch.source_no``: the source's own patch number (图斑编号), unique per source.
- ``change_patch.rectification``: 整改状态 of a patch ruled illegal: ``not_started`` (未整改),
  ``in_progress`` (整改中), ``done`` (已整改).
- ``mnr_patch``: the ministry's attributes of an imported patch (quarter of the batch,
  行政区代码/名称, reported 监测面积, 前时相/后时相, 变化类型, the file's other columns),
  one row per ``change_patch`` of source ``mnr``. Audited, never deleted.
- ``mnr_evidence``: 举证 of a patch (photo, PDF document, approval number 批准文号), stored
  under ``data_dir`` with its SHA-256. Append-only: inserts are audited, updates and deletes
  are refused by trigger.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0024_mnr_patches"
down_revision = "0020_stock_halted_deadlines"
branch_labels = None
depends_on = None


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


def _audit_triggers(table: str, *, touch: bool) -> None:
    sqls = [
        f"CREATE TRIGGER t90_audit AFTER INSERT OR UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION ge_audit()",
        f"CREATE TRIGGER t00_no_delete BEFORE DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION ge_refuse_delete()",
        f"CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_refuse_delete()",
    ]
    if touch:
        sqls.append(
            f"CREATE TRIGGER t05_touch BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_touch()"
        )
    for sql in sqls:
        op.execute(sql)


APPEND_ONLY = r"""
CREATE OR REPLACE FUNCTION ge_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are append-only (add a new record instead)', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$;
"""


def upgrade() -> None:
    op.add_column(
        "change_patch",
        sa.Column("source", sa.String(length=10), server_default="flight", nullable=False),
    )
    op.add_column("change_patch", sa.Column("source_no", sa.String(length=60), nullable=True))
    op.add_column("change_patch", sa.Column("rectification", sa.String(length=20), nullable=True))
    op.create_check_constraint(
        "ck_patch_source",
        "change_patch",
        "source IN ('flight','mnr') AND (source = 'flight' OR source_no IS NOT NULL)",
    )
    op.create_check_constraint(
        "ck_patch_rectification",
        "change_patch",
        "rectification IS NULL OR rectification IN ('not_started','in_progress','done')",
    )
    op.create_unique_constraint(
        "uq_change_patch_source_no", "change_patch", ["source", "source_no"]
    )
    op.create_index("ix_change_patch_source", "change_patch", ["source"])

    op.create_table(
        "mnr_patch",
        sa.Column("change_patch_id", sa.BigInteger(), nullable=False),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("admin_code", sa.String(length=40), nullable=True),
        sa.Column("admin_name", sa.String(length=100), nullable=True),
        sa.Column("reported_area", sa.Double(), nullable=True),
        sa.Column("before_date", sa.Date(), nullable=True),
        sa.Column("after_date", sa.Date(), nullable=True),
        sa.Column("change_type", sa.String(length=100), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("attributes", JSONB(), server_default="{}", nullable=False),
        *_ledger_columns(),
        sa.ForeignKeyConstraint(["change_patch_id"], ["change_patch.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("change_patch_id"),
        sa.CheckConstraint("quarter ~ '^[0-9]{4}Q[1-4]$'", name="ck_mnr_quarter"),
    )  # fmt: skip
    op.create_index("ix_mnr_patch_quarter", "mnr_patch", ["quarter"])
    _audit_triggers("mnr_patch", touch=True)

    op.create_table(
        "mnr_evidence",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("change_patch_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stored_name", sa.String(length=100), nullable=True),
        sa.Column("original_name", sa.String(length=300), nullable=True),
        sa.Column("content_type", sa.String(length=50), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("approval_no", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "location", Geometry("POINT", srid=4490, spatial_index=False), nullable=True
        ),
        sa.Column("submitted_by", sa.String(length=100), nullable=False),
        sa.Column(
            "submitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["change_patch_id"], ["change_patch.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stored_name"),
        sa.CheckConstraint("kind IN ('photo','document','approval')", name="ck_mnr_evidence_kind"),
        sa.CheckConstraint(
            "kind = 'approval' OR (stored_name IS NOT NULL AND sha256 IS NOT NULL)",
            name="ck_mnr_evidence_file",
        ),
        sa.CheckConstraint(
            "kind <> 'approval' OR coalesce(btrim(approval_no), '') <> ''",
            name="ck_mnr_evidence_approval",
        ),
    )  # fmt: skip
    op.create_index("ix_mnr_evidence_change_patch_id", "mnr_evidence", ["change_patch_id"])
    op.execute("CREATE INDEX idx_mnr_evidence_location ON mnr_evidence USING gist (location)")
    _audit_triggers("mnr_evidence", touch=False)
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER t00_append_only BEFORE UPDATE ON mnr_evidence "
        "FOR EACH ROW EXECUTE FUNCTION ge_refuse_update()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE mnr_evidence")
    op.execute("DROP FUNCTION IF EXISTS ge_refuse_update()")
    op.execute("DROP TABLE mnr_patch")
    op.drop_index("ix_change_patch_source", table_name="change_patch")
    op.drop_constraint("uq_change_patch_source_no", "change_patch", type_="unique")
    op.drop_constraint("ck_patch_rectification", "change_patch", type_="check")
    op.drop_constraint("ck_patch_source", "change_patch", type_="check")
    for col in ("rectification", "source_no", "source"):
        op.drop_column("change_patch", col)
