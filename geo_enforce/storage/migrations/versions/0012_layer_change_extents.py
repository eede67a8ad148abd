"""layer changes with their extent: a tile is re-drawn only when an edit touched its area

Revision ID: 0012_layer_change_extents
Revises: 0011_relative_flight_paths

Migration 0004 bumps a layer's version on every write, so one edit invalidated every cached
tile of the layer. Now each bump also records the bounding box of the rows the statement wrote
(old and new geometries, so a moved or retired feature clears both places) in
``layer_change`` (layer, version, bbox in EPSG:4490). A cached tile drawn at version v is still
right at version w when none of the changes v+1..w intersects the tile
(``geo_enforce.tiles.cache``). A statement that writes no row no longer bumps the version. The
last 1000 changes per layer are kept; an older cache entry is simply re-drawn. The triggers use
transition tables, one per event (PostgreSQL allows transition tables on single-event triggers
only); TRUNCATE records a change without a box (everywhere).
"""

from alembic import op

revision = "0012_layer_change_extents"
down_revision = "0011_relative_flight_paths"
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
KEEP = 1000

FUNCTION = f"""
CREATE OR REPLACE FUNCTION ge_layer_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  box box2d;
  v bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT ST_Extent(geom) INTO box FROM new_rows;
  ELSIF TG_OP = 'UPDATE' THEN
    SELECT ST_Extent(g) INTO box
      FROM (SELECT geom AS g FROM old_rows UNION ALL SELECT geom FROM new_rows) s;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT ST_Extent(geom) INTO box FROM old_rows;
  END IF;
  IF TG_OP <> 'TRUNCATE' AND box IS NULL THEN
    RETURN NULL;  -- the statement wrote no row
  END IF;
  UPDATE layer_version SET version = version + 1 WHERE layer = TG_TABLE_NAME
    RETURNING version INTO v;
  INSERT INTO layer_change (layer, version, bbox)
    VALUES (TG_TABLE_NAME, v, CASE WHEN box IS NULL THEN NULL
                                   ELSE ST_SetSRID(box::geometry, 4490) END);
  DELETE FROM layer_change WHERE layer = TG_TABLE_NAME AND version <= v - {KEEP};
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE layer_change (
  layer text NOT NULL,
  version bigint NOT NULL,
  bbox geometry(Geometry, 4490),
  PRIMARY KEY (layer, version)
);
GRANT SELECT ON layer_change TO PUBLIC;
"""
    )
    op.execute(FUNCTION)
    for table in LAYERS:
        op.execute(f"DROP TRIGGER IF EXISTS t95_layer_version ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS t95_layer_version_truncate ON {table}")
        op.execute(
            f"CREATE TRIGGER t95_layer_changed_ins AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
        )
        op.execute(
            f"CREATE TRIGGER t95_layer_changed_upd AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
        )
        op.execute(
            f"CREATE TRIGGER t95_layer_changed_del AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
        )
        op.execute(
            f"CREATE TRIGGER t95_layer_changed_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
        )


def downgrade() -> None:
    for table in LAYERS:
        for suffix in ("ins", "upd", "del", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS t95_layer_changed_{suffix} ON {table}")
        op.execute(
            f"CREATE TRIGGER t95_layer_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_bump_layer_version()"
        )
        op.execute(
            f"CREATE TRIGGER t95_layer_version_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ge_bump_layer_version()"
        )
    op.execute("DROP FUNCTION IF EXISTS ge_layer_changed()")
    op.execute("DROP TABLE IF EXISTS layer_change")
