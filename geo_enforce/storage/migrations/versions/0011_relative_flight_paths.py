"""flight file paths relative to the data directory

Older versions stored the orthophoto and DSM they wrote as ``<data_dir>/flights/<name>/ortho.tif``
with ``data_dir`` as it was configured (absolute, or relative to the working directory), so a
restore on another machine pointed at the old place. The files the application writes always
end in ``flights/<flight name>/ortho.tif`` or ``dsm.tif``: those paths become relative to the
data directory. COGs registered in place elsewhere keep their absolute path. The update goes
through the ledger triggers, so each rewritten flight gets an audit entry.

Revision ID: 0011_relative_flight_paths
Revises: 0004_layer_versions
"""

from alembic import op

revision = "0011_relative_flight_paths"
down_revision = "0004_layer_versions"
branch_labels = None
depends_on = None

_RELATIVE = (
    "CASE WHEN {col} LIKE '%/flights/' || name || '/' || '{file}' "
    "OR {col} = 'flights/' || name || '/' || '{file}' "
    "THEN 'flights/' || name || '/' || '{file}' ELSE {col} END"
)


def upgrade() -> None:
    op.execute(
        "SELECT set_config('geo_enforce.actor', 'migration:0011_relative_flight_paths', true)"
    )
    ortho = _RELATIVE.format(col="ortho_path", file="ortho.tif")
    dsm = _RELATIVE.format(col="dsm_path", file="dsm.tif")
    op.execute(
        f"UPDATE flight SET ortho_path = {ortho}, dsm_path = {dsm} "
        f"WHERE ortho_path IS DISTINCT FROM {ortho} OR dsm_path IS DISTINCT FROM {dsm}"
    )


def downgrade() -> None:
    # the data directory is not known to the database: relative paths stay relative (they are
    # resolved under settings.data_dir by every version that has this revision's code)
    pass
