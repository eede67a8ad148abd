"""stock and increment, stopped construction (制止), notice deadlines

Revision ID: 0020_stock_halted_deadlines
Revises: 0012_layer_change_extents

- ``township``: one row per township (乡镇/街道) the deployment serves, keyed by the code of its
  ``admin_area`` of level ``town``, with the **base date** (基准日, e.g. the day of the baseline
  survey). A structure case discovered on or before the base date of the township its
  representative point lies in is stock (存量), after it increment (增量). Audited, never
  deleted, like every ledger table (the grants of ``storage/sql/grants.sql`` cover it).
- ``structure.stock_override`` (``stock``/``increment``) with ``stock_override_reason``: the
  derived class overridden by hand; the audit trigger records who and when.
- ``structure.status`` may be ``halted`` (制止: new building stopped on site), with
  ``halted_on`` the day it was stopped.
- ``structure.deadline_on``: the deadline of the 责令限期拆除 notice (期限), recorded by the
  ``notice_served`` transition; a notice past it while the case is still ``notice_served`` is
  overdue.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_stock_halted_deadlines"
down_revision = "0012_layer_change_extents"
branch_labels = None
depends_on = None

OLD_STATUSES = (
    "status IN ('suspected','verified','notice_served','demolished','rectified',"
    "'legalized','dismissed')"
)
NEW_STATUSES = (
    "status IN ('suspected','verified','halted','notice_served','demolished','rectified',"
    "'legalized','dismissed')"
)


def upgrade() -> None:
    op.create_table(
        "township",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_date", sa.Date(), nullable=True),
        sa.Column("base_note", sa.Text(), nullable=True),
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
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )  # fmt: skip
    for sql in (
        "CREATE TRIGGER t05_touch BEFORE UPDATE ON township "
        "FOR EACH ROW EXECUTE FUNCTION ge_touch()",
        "CREATE TRIGGER t90_audit AFTER INSERT OR UPDATE ON township "
        "FOR EACH ROW EXECUTE FUNCTION ge_audit()",
        "CREATE TRIGGER t00_no_delete BEFORE DELETE ON township "
        "FOR EACH ROW EXECUTE FUNCTION ge_refuse_delete()",
        "CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON township "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_refuse_delete()",
    ):
        op.execute(sql)
    op.add_column("structure", sa.Column("stock_override", sa.String(length=10), nullable=True))
    op.add_column("structure", sa.Column("stock_override_reason", sa.Text(), nullable=True))
    op.add_column("structure", sa.Column("halted_on", sa.Date(), nullable=True))
    op.add_column("structure", sa.Column("deadline_on", sa.Date(), nullable=True))
    op.create_index("ix_structure_deadline_on", "structure", ["deadline_on"])
    op.create_check_constraint(
        "ck_structure_stock_override",
        "structure",
        "stock_override IS NULL OR (stock_override IN ('stock','increment') "
        "AND coalesce(btrim(stock_override_reason), '') <> '')",
    )
    op.drop_constraint("ck_structure_status", "structure", type_="check")
    op.create_check_constraint("ck_structure_status", "structure", NEW_STATUSES)


def downgrade() -> None:
    op.drop_constraint("ck_structure_status", "structure", type_="check")
    op.execute("UPDATE structure SET status = 'verified' WHERE status = 'halted'")
    op.create_check_constraint("ck_structure_status", "structure", OLD_STATUSES)
    op.drop_constraint("ck_structure_stock_override", "structure", type_="check")
    op.drop_index("ix_structure_deadline_on", table_name="structure")
    for col in ("deadline_on", "halted_on", "stock_override_reason", "stock_override"):
        op.drop_column("structure", col)
    op.execute("DROP TABLE township")
