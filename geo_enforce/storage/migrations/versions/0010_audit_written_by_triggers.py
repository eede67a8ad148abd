"""audit_log rows come only from the audit triggers

The app role (``ge_app``) may INSERT into ``audit_log``: the audit trigger runs with the
privileges of whoever changed the ledger row. A direct INSERT would let it fabricate entries
for changes that never happened; this BEFORE INSERT trigger refuses any row not written from
inside another trigger (``pg_trigger_depth() < 2``). ``pg_restore`` loads the table before it
creates triggers, so restores are unaffected.

Revision ID: 0010_audit_written_by_triggers
Revises: 0002_detection_learning
"""

from alembic import op

revision = "0010_audit_written_by_triggers"
down_revision = "0002_detection_learning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE OR REPLACE FUNCTION ge_audit_by_trigger_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'audit_log rows are written only by the audit triggers'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER t00_by_trigger_only BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION ge_audit_by_trigger_only();
"""
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS t00_by_trigger_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS ge_audit_by_trigger_only()")
