-- Mapbox vector tile of current admin areas (镇/村/社区/网格) for tile :z/:x/:y.
-- (No 'WHERE geom IS NOT NULL' on the result: ST_AsMVT skips rows whose geometry clipped
-- away, and the filter would make PostgreSQL compute ST_AsMVTGeom twice.)
WITH bounds AS (
  SELECT ST_TileEnvelope(:z, :x, :y) AS env,
         ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS env4490
),
mvtgeom AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, 4096, 64, true) AS geom,
         t.id AS fid,
         t.id, t.code, t.name, t.level, t.parent_code,
         t.area_m2,
         t.area_mu
  FROM bounds
  JOIN admin_area t ON t.geom && bounds.env4490
  WHERE t.retired_at IS NULL
)
SELECT ST_AsMVT(mvtgeom.*, 'admin_area', 4096, 'geom', 'fid') FROM mvtgeom
