-- Mapbox vector tile of the current records of one ledger layer for tile :z/:x/:y (Web
-- Mercator), filled in per layer by geo_enforce.tiles.mvt: the layer's table (aliased t, also
-- the tile layer's name), its feature properties and, for layers drawn with their village's
-- name, the join to it (aliased v).
-- Geometry stored in EPSG:4490; the index is used through the envelope transformed to 4490.
-- (No 'WHERE geom IS NOT NULL' on the result: ST_AsMVT skips rows whose geometry clipped
-- away, and the filter would make PostgreSQL compute ST_AsMVTGeom twice.)
-- ORDER BY fid in the aggregate: features in a fixed order (the same bytes, so the same ETag,
-- for the same data) and no parallel partial aggregation, whose merging of partial tiles made
-- dense tiles about twice as slow.
WITH bounds AS (
  SELECT ST_TileEnvelope(:z, :x, :y) AS env,
         ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS env4490
),
mvtgeom AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, 4096, 64, true) AS geom,
         t.id AS fid,
         {properties}
  FROM bounds
  JOIN {layer} t ON t.geom && bounds.env4490
  {join}
  WHERE t.retired_at IS NULL
)
SELECT ST_AsMVT(mvtgeom.*, '{layer}', 4096, 'geom', 'fid' ORDER BY fid) FROM mvtgeom
