"""layer versions: one counter per map layer, bumped by every committed write to it

Revision ID: 0004_layer_versions
Revises: 0010_audit_written_by_triggers

``layer_version`` holds one row per ledger layer served as vector tiles. A statement-level
trigger on each layer's table adds one to its row on every INSERT, UPDATE or DELETE (TRUNCATE
too): the new number becomes visible exactly when the writing transaction commits, so a tile
cache that keys its entries by the versions it read (``geo_enforce.tiles.cache``) never serves
a tile older than the last committed edit, whatever API worker made the edit. The function is
SECURITY DEFINER (the app role needs no UPDATE grant on the table); everyone may read it.
"""

from alembic import op

revision = "0004_layer_versions"
down_revision = "0010_audit_written_by_triggers"
branch_labels = None
depends_on = None

LAYERS = (
    "admin_area",
    "red_line",
    "structure",
    "cleared_parcel",
    "farmland_parcel",
    "change_patch",
)


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE layer_version (
  layer text PRIMARY KEY,
  version bigint NOT NULL DEFAULT 1
);
GRANT SELECT ON layer_version TO PUBLIC;
CREATE OR REPLACE FUNCTION ge_bump_layer_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE layer_version SET version = version + 1 WHERE layer = TG_TABLE_NAME;
  RETURN NULL;
END $$;
"""
    )
    for table in LAYERS:
        op.execute(f"INSERT INTO layer_version (layer) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER t95_layer_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_bump_layer_version()"
        )
        op.execute(
            f"CREATE TRIGGER t95_layer_version_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_bump_layer_version()"
        )


def downgrade() -> None:
    for table in LAYERS:
        op.execute(f"DROP TRIGGER IF EXISTS t95_layer_version ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS t95_layer_version_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS ge_bump_layer_version()")
    op.execute("DROP TABLE IF EXISTS layer_version")
