"""pipelines drawn as vector tiles: their layer version and change extents

Revision ID: 0022_pipeline_tiles
Revises: 0021_campaigns_pipelines

The ``pipeline`` layer is served as vector tiles (``geo_enforce.tiles.mvt``). The tile cache
re-uses a tile only while the layer's row of ``layer_version`` says nothing touching the tile
was written since (migrations ``0004_layer_versions``, ``0012_layer_change_extents``); without a
row a layer's tiles would never be re-drawn. This gives ``pipeline`` its row and the same
statement triggers as the other tiled layers (``ge_layer_changed``: bump the version, record
the bounding box of the rows written).
"""

from alembic import op

revision = "0022_pipeline_tiles"
down_revision = "0021_campaigns_pipelines"
branch_labels = None
depends_on = None

TABLE = "pipeline"


def upgrade() -> None:
    op.execute(
        f"INSERT INTO layer_version (layer) VALUES ('{TABLE}') ON CONFLICT (layer) DO NOTHING"
    )
    op.execute(
        f"CREATE TRIGGER t95_layer_changed_ins AFTER INSERT ON {TABLE} "
        "REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
    )
    op.execute(
        f"CREATE TRIGGER t95_layer_changed_upd AFTER UPDATE ON {TABLE} "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
    )
    op.execute(
        f"CREATE TRIGGER t95_layer_changed_del AFTER DELETE ON {TABLE} "
        "REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
    )
    op.execute(
        f"CREATE TRIGGER t95_layer_changed_truncate AFTER TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_layer_changed()"
    )


def downgrade() -> None:
    for suffix in ("ins", "upd", "del", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS t95_layer_changed_{suffix} ON {TABLE}")
    op.execute(f"DELETE FROM layer_change WHERE layer = '{TABLE}'")
    op.execute(f"DELETE FROM layer_version WHERE layer = '{TABLE}'")
