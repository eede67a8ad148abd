"""detection learning: patch evidence, set-aside flag, scoring model; detector_model table

Revision ID: 0002_detection_learning
Revises: 0001_initial
Create Date: 2026-12-01 08:30:00

``change_patch`` gains the per-patch ``evidence`` the detector measured (JSONB, keys such as
height_gain_m, planarity_rmse_m, colour_change, exg), ``model_id`` (the learned model that
scored it, if any), ``learned_score`` and ``set_aside`` (a likely 伪变化 kept but moved out of the
squad's list, never deleted). ``detector_model`` holds the models fitted on the bureau's rulings
(``geo-enforce detect learn``), with the same touch/audit/no-delete triggers as every ledger
table (migration 0001).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_detection_learning"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detector_model",
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("algorithm", sa.String(length=100), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column(
            "features", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("n_positive", sa.Integer(), nullable=False),
        sa.Column(
            "cv_metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("set_aside_below", sa.Double(), nullable=False),
        sa.Column("model_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
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
        sa.UniqueConstraint("model_version"),
    )
    op.add_column(
        "change_patch",
        sa.Column(
            "evidence", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
    )
    op.add_column(
        "change_patch",
        sa.Column("model_id", sa.BigInteger(), sa.ForeignKey("detector_model.id"), nullable=True),
    )
    op.add_column("change_patch", sa.Column("learned_score", sa.Double(), nullable=True))
    op.add_column(
        "change_patch",
        sa.Column("set_aside", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(op.f("ix_change_patch_model_id"), "change_patch", ["model_id"], unique=False)
    # the audit pattern of 0001: updated_at/version kept in step, every write audited, no deletes
    op.execute(
        "CREATE TRIGGER t05_touch BEFORE UPDATE ON detector_model "
        "FOR EACH ROW EXECUTE FUNCTION ge_touch()"
    )
    op.execute(
        "CREATE TRIGGER t90_audit AFTER INSERT OR UPDATE ON detector_model "
        "FOR EACH ROW EXECUTE FUNCTION ge_audit()"
    )
    op.execute(
        "CREATE TRIGGER t00_no_delete BEFORE DELETE ON detector_model "
        "FOR EACH ROW EXECUTE FUNCTION ge_refuse_delete()"
    )
    op.execute(
        "CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON detector_model "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_refuse_delete()"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_change_patch_model_id"), table_name="change_patch")
    op.drop_column("change_patch", "set_aside")
    op.drop_column("change_patch", "learned_score")
    op.drop_column("change_patch", "model_id")
    op.drop_column("change_patch", "evidence")
    op.drop_table("detector_model")
