-- Mapbox vector tile of current red lines (红线, by kind) for tile :z/:x/:y.
WITH bounds AS (
  SELECT ST_TileEnvelope(:z, :x, :y) AS env,
         ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS env4490
),
mvtgeom AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, 4096, 64, true) AS geom,
         t.id AS fid,
         t.id, t.code, t.kind, t.name, t.approval_no,
         t.valid_from::text AS valid_from, t.valid_to::text AS valid_to,
         round(t.area_m2::numeric, 2)::float8 AS area_m2,
         round(t.area_mu::numeric, 4)::float8 AS area_mu
  FROM bounds
  JOIN red_line t ON t.geom && bounds.env4490
  WHERE t.retired_at IS NULL
)
SELECT ST_AsMVT(mvtgeom.*, 'red_line', 4096, 'geom', 'fid') FROM mvtgeom WHERE geom IS NOT NULL
