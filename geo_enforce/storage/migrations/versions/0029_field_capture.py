"""field capture: inspector role, patrol records, case evidence and their files (issue 15)

Revision ID: 0029_field_capture
Revises: 0020_stock_halted_deadlines

- ``app_user.role`` may be ``inspector`` (巡查队员: adds patrol records and evidence, cannot
  edit the ledger), ranked between ``liaison`` and ``editor``.
- ``patrol_record`` (巡查记录), ``case_evidence`` (取证, in stages), ``capture_file`` (photos,
  videos, PDFs with SHA-256, time and position), ``transition_evidence`` (the evidence a
  transition cites), ``capture_key`` (idempotency keys of capture POSTs).
- All five are append-only: ``ge_append_only`` refuses UPDATE, DELETE and TRUNCATE for every
  role, the owner included (as ``audit_log`` does). Inserts into all but ``capture_key`` are
  audited by ``ge_audit``. ``grants.sql`` covers the new tables.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0029_field_capture"
down_revision = "0020_stock_halted_deadlines"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('viewer','liaison','editor','admin')"
NEW_ROLES = "role IN ('viewer','liaison','inspector','editor','admin')"

APPEND_ONLY = r"""
CREATE OR REPLACE FUNCTION ge_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused (add a new record instead)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;
"""

TABLES = ("patrol_record", "case_evidence", "capture_file", "transition_evidence", "capture_key")
AUDITED = TABLES[:-1]


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _point() -> sa.Column:
    return sa.Column(
        "location",
        Geometry("POINT", srid=4490, spatial_index=False, from_text="ST_GeomFromEWKT"),
        nullable=True,
    )


def upgrade() -> None:
    op.drop_constraint("ck_user_role", "app_user", type_="check")
    op.create_check_constraint("ck_user_role", "app_user", NEW_ROLES)
    op.execute(APPEND_ONLY)
    op.create_table(
        "patrol_record",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _point(),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column(
            "sketch",
            Geometry("MULTIPOLYGON", srid=4490, spatial_index=False, from_text="ST_GeomFromEWKT"),
            nullable=True,
        ),
        sa.Column("structure_id", sa.BigInteger(), sa.ForeignKey("structure.id"), nullable=True),
        sa.Column("opened_case", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "conflict_case_id", sa.BigInteger(), sa.ForeignKey("structure.id"), nullable=True
        ),
        sa.Column("conflict_note", sa.Text(), nullable=True),
        sa.Column("conflict_stage", sa.String(length=20), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("location IS NOT NULL OR sketch IS NOT NULL", name="ck_patrol_where"),
        sa.CheckConstraint(
            "sketch IS NULL OR (ST_IsValid(sketch) AND NOT ST_IsEmpty(sketch))",
            name="ck_patrol_sketch_valid",
        ),
        sa.CheckConstraint(
            "NOT opened_case OR structure_id IS NOT NULL", name="ck_patrol_opened_case"
        ),
    )
    op.create_table(
        "case_evidence",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("structure_id", sa.BigInteger(), sa.ForeignKey("structure.id"), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _point(),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(
            "stage IN ('inspection','notice_served','before','during','after','halted')",
            name="ck_evidence_stage",
        ),
    )
    op.create_table(
        "capture_file",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "patrol_id", sa.BigInteger(), sa.ForeignKey("patrol_record.id"), nullable=True
        ),
        sa.Column(
            "evidence_id", sa.BigInteger(), sa.ForeignKey("case_evidence.id"), nullable=True
        ),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("original_name", sa.String(length=300), nullable=True),
        sa.Column("media", sa.String(length=10), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_source", sa.String(length=10), nullable=True),
        _point(),
        sa.Column("position_source", sa.String(length=10), nullable=True),
        sa.Column("heading_deg", sa.Double(), nullable=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
        sa.CheckConstraint(
            "num_nonnulls(patrol_id, evidence_id) = 1", name="ck_capture_file_owner"
        ),
        sa.CheckConstraint(
            "media IN ('photo','video','document')", name="ck_capture_file_media"
        ),
        sa.CheckConstraint(
            "time_source IS NULL OR time_source IN ('exif','device')", name="ck_capture_time_src"
        ),
        sa.CheckConstraint(
            "position_source IS NULL OR position_source IN ('exif','device')",
            name="ck_capture_pos_src",
        ),
    )  # fmt: skip
    op.create_table(
        "transition_evidence",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "transition_id", sa.BigInteger(), sa.ForeignKey("structure_transition.id"),
            nullable=False,
        ),
        sa.Column(
            "evidence_id", sa.BigInteger(), sa.ForeignKey("case_evidence.id"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
    )  # fmt: skip
    op.create_table(
        "capture_key",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.CheckConstraint("kind IN ('patrol','evidence')", name="ck_capture_key_kind"),
        sa.CheckConstraint("outcome IN ('stored','conflict')", name="ck_capture_key_outcome"),
    )
    for table, column in (
        ("patrol_record", "observed_at"),
        ("patrol_record", "category"),
        ("patrol_record", "structure_id"),
        ("patrol_record", "conflict_case_id"),
        ("case_evidence", "structure_id"),
        ("capture_file", "patrol_id"),
        ("capture_file", "evidence_id"),
        ("capture_file", "sha256"),
        ("transition_evidence", "transition_id"),
        ("transition_evidence", "evidence_id"),
    ):
        op.create_index(f"ix_{table}_{column}", table, [column])
    for table, column in (
        ("patrol_record", "location"),
        ("patrol_record", "sketch"),
        ("case_evidence", "location"),
        ("capture_file", "location"),
    ):
        op.execute(f"CREATE INDEX idx_{table}_{column} ON {table} USING gist ({column})")
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER t00_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_append_only()"
        )
    for table in AUDITED:
        op.execute(
            f"CREATE TRIGGER t90_audit AFTER INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_audit()"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP FUNCTION IF EXISTS ge_append_only()")
    op.execute("UPDATE app_user SET role = 'liaison' WHERE role = 'inspector'")
    op.drop_constraint("ck_user_role", "app_user", type_="check")
    op.create_check_constraint("ck_user_role", "app_user", OLD_ROLES)
