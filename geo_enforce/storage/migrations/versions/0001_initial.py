"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22 01:54:42.641974
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_area",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("parent_code", sa.String(length=40), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("area_m2", sa.Double(), server_default="0", nullable=False),
        sa.Column("area_mu", sa.Double(), server_default="0", nullable=False),
        sa.CheckConstraint("level IN ('town','village','community','grid')", name="ck_admin_level"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_admin_area_parent_code"), "admin_area", ["parent_code"], unique=False)
    op.create_table(
        "app_user",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("role IN ('viewer','liaison','editor','admin')", name="ck_user_role"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("table_name", sa.String(length=60), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("old_row", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_row", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_table_name"), "audit_log", ["table_name"], unique=False)
    op.create_table(
        "cleared_parcel",
        sa.Column("parcel_no", sa.String(length=60), nullable=False),
        sa.Column("village_code", sa.String(length=40), nullable=True),
        sa.Column("prior_use", sa.String(length=200), nullable=True),
        sa.Column("cleared_on", sa.Date(), nullable=True),
        sa.Column("restored_use", sa.String(length=20), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("area_m2", sa.Double(), server_default="0", nullable=False),
        sa.Column("area_mu", sa.Double(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("parcel_no"),
    )
    op.create_index(
        op.f("ix_cleared_parcel_cleared_on"), "cleared_parcel", ["cleared_on"], unique=False
    )
    op.create_index(
        op.f("ix_cleared_parcel_village_code"), "cleared_parcel", ["village_code"], unique=False
    )
    op.create_table(
        "farmland_parcel",
        sa.Column("patch_code", sa.String(length=60), nullable=False),
        sa.Column("land_class", sa.String(length=8), nullable=False),
        sa.Column("is_permanent_basic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("village_code", sa.String(length=40), nullable=True),
        sa.Column("owner_collective", sa.String(length=200), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("area_m2", sa.Double(), server_default="0", nullable=False),
        sa.Column("area_mu", sa.Double(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patch_code"),
    )
    op.create_index(
        op.f("ix_farmland_parcel_land_class"), "farmland_parcel", ["land_class"], unique=False
    )
    op.create_index(
        op.f("ix_farmland_parcel_village_code"), "farmland_parcel", ["village_code"], unique=False
    )
    op.create_table(
        "flight",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("flown_on", sa.Date(), nullable=False),
        sa.Column("gsd_m", sa.Double(), nullable=False),
        sa.Column("ortho_path", sa.Text(), nullable=False),
        sa.Column("dsm_path", sa.Text(), nullable=True),
        sa.Column("crs", sa.String(length=60), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("band_count", sa.Integer(), nullable=False),
        sa.Column(
            "stac", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "footprint",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_flight_flown_on"), "flight", ["flown_on"], unique=False)
    op.create_table(
        "red_line",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("approval_no", sa.String(length=100), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("area_m2", sa.Double(), server_default="0", nullable=False),
        sa.Column("area_mu", sa.Double(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "kind IN ('construction_land','road','ecological','basic_farmland','river_blue','urban_boundary')",
            name="ck_red_line_kind",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_red_line_kind"), "red_line", ["kind"], unique=False)
    op.create_table(
        "structure",
        sa.Column("case_no", sa.String(length=60), nullable=False),
        sa.Column("village_code", sa.String(length=40), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("floors", sa.Integer(), server_default="1", nullable=False),
        sa.Column("households", sa.Integer(), server_default="1", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="suspected", nullable=False),
        sa.Column("discovered_on", sa.Date(), nullable=True),
        sa.Column("notice_on", sa.Date(), nullable=True),
        sa.Column("demolished_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("floor_area_measured_m2", sa.Double(), nullable=True),
        sa.Column("floor_area_m2", sa.Double(), server_default="0", nullable=False),
        sa.Column("party_name", sa.String(length=100), nullable=True),
        sa.Column("party_id_no", sa.String(length=30), nullable=True),
        sa.Column("party_phone", sa.String(length=30), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("area_m2", sa.Double(), server_default="0", nullable=False),
        sa.Column("area_mu", sa.Double(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "category IN ('villa','factory','steel_shed','wall','gate','courtyard','carport','other')",
            name="ck_structure_category",
        ),
        sa.CheckConstraint(
            "status IN ('suspected','verified','notice_served','demolished','rectified','legalized','dismissed')",
            name="ck_structure_status",
        ),
        sa.CheckConstraint("floors >= 1 AND floors <= 100", name="ck_structure_floors"),
        sa.CheckConstraint("households >= 0", name="ck_structure_households"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
    )
    op.create_index(op.f("ix_structure_category"), "structure", ["category"], unique=False)
    op.create_index(
        op.f("ix_structure_demolished_on"), "structure", ["demolished_on"], unique=False
    )
    op.create_index(
        op.f("ix_structure_discovered_on"), "structure", ["discovered_on"], unique=False
    )
    op.create_index(op.f("ix_structure_status"), "structure", ["status"], unique=False)
    op.create_index(op.f("ix_structure_village_code"), "structure", ["village_code"], unique=False)
    op.create_table(
        "api_token",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"], unique=False)
    op.create_table(
        "detection_run",
        sa.Column("before_flight_id", sa.BigInteger(), nullable=False),
        sa.Column("after_flight_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column(
            "params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("progress", sa.Double(), server_default="0", nullable=False),
        sa.Column("work_dir", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "summary", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('pending','running','done','failed','cancelled')", name="ck_run_status"
        ),
        sa.ForeignKeyConstraint(
            ["after_flight_id"],
            ["flight.id"],
        ),
        sa.ForeignKeyConstraint(
            ["before_flight_id"],
            ["flight.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "structure_transition",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("structure_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structure.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_structure_transition_structure_id"),
        "structure_transition",
        ["structure_id"],
        unique=False,
    )
    op.create_table(
        "verification",
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="submitted", nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("verified_by", sa.String(length=100), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("structure_id", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "result IN ('farmland','construction','facility_agri','rural_road','abandoned','other')",
            name="ck_verif_result",
        ),
        sa.CheckConstraint(
            "target_kind IN ('farmland_parcel','change_patch','structure')", name="ck_verif_kind"
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structure.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "change_patch",
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("before_flight_id", sa.BigInteger(), nullable=True),
        sa.Column("after_flight_id", sa.BigInteger(), nullable=True),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("village_code", sa.String(length=40), nullable=True),
        sa.Column("change_kind", sa.String(length=20), server_default="new", nullable=False),
        sa.Column("height_gain_mean_m", sa.Double(), nullable=True),
        sa.Column("height_gain_max_m", sa.Double(), nullable=True),
        sa.Column("confidence", sa.Double(), server_default="0", nullable=False),
        sa.Column(
            "rule_hits",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("suggested_ruling", sa.String(length=20), nullable=True),
        sa.Column("ruling", sa.String(length=20), nullable=True),
        sa.Column("ruling_note", sa.Text(), nullable=True),
        sa.Column("approval_no", sa.String(length=100), nullable=True),
        sa.Column("ruled_by", sa.String(length=100), nullable=True),
        sa.Column("ruled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="new", nullable=False),
        sa.Column("structure_id", sa.BigInteger(), nullable=True),
        sa.Column("chip_before", sa.Text(), nullable=True),
        sa.Column("chip_after", sa.Text(), nullable=True),
        sa.Column("detected_on", sa.Date(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("area_m2", sa.Double(), server_default="0", nullable=False),
        sa.Column("area_mu", sa.Double(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "ruling IS NULL OR ruling IN ('legal','illegal','other','false_change')",
            name="ck_patch_ruling",
        ),
        sa.CheckConstraint(
            "status IN ('new','under_review','ruled','closed')", name="ck_patch_status"
        ),
        sa.ForeignKeyConstraint(
            ["after_flight_id"],
            ["flight.id"],
        ),
        sa.ForeignKeyConstraint(
            ["before_flight_id"],
            ["flight.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["detection_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structure.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        op.f("ix_change_patch_detected_on"), "change_patch", ["detected_on"], unique=False
    )
    op.create_index(op.f("ix_change_patch_ruling"), "change_patch", ["ruling"], unique=False)
    op.create_index(op.f("ix_change_patch_run_id"), "change_patch", ["run_id"], unique=False)
    op.create_index(
        op.f("ix_change_patch_structure_id"), "change_patch", ["structure_id"], unique=False
    )
    op.create_index(
        op.f("ix_change_patch_village_code"), "change_patch", ["village_code"], unique=False
    )
    op.create_table(
        "verification_photo",
        sa.Column("verification_id", sa.BigInteger(), nullable=False),
        sa.Column("stored_name", sa.String(length=100), nullable=False),
        sa.Column("original_name", sa.String(length=300), nullable=True),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heading_deg", sa.Double(), nullable=True),
        sa.Column("distance_to_target_m", sa.Double(), nullable=True),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4490,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verification.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stored_name"),
    )
    op.create_index(
        op.f("ix_verification_photo_verification_id"),
        "verification_photo",
        ["verification_id"],
        unique=False,
    )
    _install_triggers()


def downgrade() -> None:
    op.execute(DROP_FUNCTIONS)
    op.drop_index(op.f("ix_verification_photo_verification_id"), table_name="verification_photo")
    op.drop_table("verification_photo")
    op.drop_index(op.f("ix_change_patch_village_code"), table_name="change_patch")
    op.drop_index(op.f("ix_change_patch_structure_id"), table_name="change_patch")
    op.drop_index(op.f("ix_change_patch_run_id"), table_name="change_patch")
    op.drop_index(op.f("ix_change_patch_ruling"), table_name="change_patch")
    op.drop_index(op.f("ix_change_patch_detected_on"), table_name="change_patch")
    op.drop_table("change_patch")
    op.drop_table("verification")
    op.drop_index(op.f("ix_structure_transition_structure_id"), table_name="structure_transition")
    op.drop_table("structure_transition")
    op.drop_table("detection_run")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index(op.f("ix_structure_village_code"), table_name="structure")
    op.drop_index(op.f("ix_structure_status"), table_name="structure")
    op.drop_index(op.f("ix_structure_discovered_on"), table_name="structure")
    op.drop_index(op.f("ix_structure_demolished_on"), table_name="structure")
    op.drop_index(op.f("ix_structure_category"), table_name="structure")
    op.drop_table("structure")
    op.drop_index(op.f("ix_red_line_kind"), table_name="red_line")
    op.drop_table("red_line")
    op.drop_index(op.f("ix_flight_flown_on"), table_name="flight")
    op.drop_table("flight")
    op.drop_index(op.f("ix_farmland_parcel_village_code"), table_name="farmland_parcel")
    op.drop_index(op.f("ix_farmland_parcel_land_class"), table_name="farmland_parcel")
    op.drop_table("farmland_parcel")
    op.drop_index(op.f("ix_cleared_parcel_village_code"), table_name="cleared_parcel")
    op.drop_index(op.f("ix_cleared_parcel_cleared_on"), table_name="cleared_parcel")
    op.drop_table("cleared_parcel")
    op.drop_index(op.f("ix_audit_log_table_name"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("app_user")
    op.drop_index(op.f("ix_admin_area_parent_code"), table_name="admin_area")
    op.drop_table("admin_area")


AUDITED = (
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
)
MEASURED = (
    "admin_area",
    "red_line",
    "structure",
    "cleared_parcel",
    "farmland_parcel",
    "change_patch",
)
GEOMETRY_COLUMNS = {t: "geom" for t in MEASURED} | {"flight": "footprint"}

FUNCTIONS = r"""
-- Ellipsoidal area on the CGCS2000 ellipsoid: geography over SRID 4490 uses that SRID's
-- spheroid (GRS 1980 parameters, identical a and f), so ST_Area here is the official area.
CREATE OR REPLACE FUNCTION ge_measure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.area_m2 := ST_Area(NEW.geom::geography, true);
  NEW.area_mu := NEW.area_m2 * 3.0 / 2000.0;
  IF TG_TABLE_NAME = 'structure' THEN
    NEW.floor_area_m2 := coalesce(NEW.floor_area_measured_m2, NEW.area_m2 * NEW.floors);
  END IF;
  RETURN NEW;
END $$;

-- Keep updated_at and the optimistic-locking version in step on every update, whichever
-- path wrote it (ORM with version_id_col bumps version itself; raw SQL gets bumped here).
CREATE OR REPLACE FUNCTION ge_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  IF NEW.version IS NOT DISTINCT FROM OLD.version THEN
    NEW.version := OLD.version + 1;
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION ge_audit_actor() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('geo_enforce.actor', true), ''), 'db:' || session_user)
$$;

CREATE OR REPLACE FUNCTION ge_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_j jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END;
  new_j jsonb := to_jsonb(NEW);
  act text := lower(TG_OP);
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF old_j = new_j THEN
      RETURN NULL;
    END IF;
    IF (old_j->>'retired_at') IS NULL AND (new_j->>'retired_at') IS NOT NULL THEN
      act := 'retire';
    END IF;
  END IF;
  INSERT INTO audit_log (table_name, record_id, action, actor, at, txid, old_row, new_row)
  VALUES (TG_TABLE_NAME, (new_j->>'id')::bigint, act, ge_audit_actor(), clock_timestamp(),
          txid_current(), old_j, new_j);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ge_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are retired, never deleted (set retired_at)', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE FUNCTION ge_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation';
END $$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS ge_measure() CASCADE;
DROP FUNCTION IF EXISTS ge_touch() CASCADE;
DROP FUNCTION IF EXISTS ge_audit() CASCADE;
DROP FUNCTION IF EXISTS ge_audit_actor() CASCADE;
DROP FUNCTION IF EXISTS ge_refuse_delete() CASCADE;
DROP FUNCTION IF EXISTS ge_refuse_audit_change() CASCADE;
"""


def _install_triggers() -> None:
    op.execute(FUNCTIONS)
    for table, col in GEOMETRY_COLUMNS.items():
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_valid CHECK (ST_IsValid({col}) "
            f"AND NOT ST_IsEmpty({col}))"
        )
    for table in MEASURED:
        op.execute(
            f"CREATE TRIGGER t10_measure BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_measure()"
        )
    for table in AUDITED:
        if table != "structure_transition":
            op.execute(
                f"CREATE TRIGGER t05_touch BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ge_touch()"
            )
        op.execute(
            f"CREATE TRIGGER t90_audit AFTER INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_audit()"
        )
        op.execute(
            f"CREATE TRIGGER t00_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_refuse_delete()"
        )
        op.execute(
            f"CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_refuse_delete()"
        )
    op.execute(
        "CREATE TRIGGER t00_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION ge_refuse_audit_change()"
    )
    op.execute(
        "CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_refuse_audit_change()"
    )
