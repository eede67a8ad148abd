-- Mapbox vector tile of current change patches (变化图斑, by ruling) for tile :z/:x/:y.
-- (No 'WHERE geom IS NOT NULL' on the result: ST_AsMVT skips rows whose geometry clipped
-- away, and the filter would make PostgreSQL compute ST_AsMVTGeom twice.)
WITH bounds AS (
  SELECT ST_TileEnvelope(:z, :x, :y) AS env,
         ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS env4490
),
mvtgeom AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, 4096, 64, true) AS geom,
         t.id AS fid,
         t.id, t.code, t.village_code, v.name AS village_name, t.change_kind,
         COALESCE(t.ruling, t.suggested_ruling) AS ruling_shown, t.ruling, t.status,
         t.confidence,
         t.height_gain_max_m, t.rule_hits::text AS rule_hits,
         t.before_flight_id, t.after_flight_id,
         t.detected_on::text AS detected_on,
         (t.chip_before IS NOT NULL) AS has_chip_before,
         (t.chip_after IS NOT NULL) AS has_chip_after,
         t.area_m2,
         t.area_mu
  FROM bounds
  JOIN change_patch t ON t.geom && bounds.env4490
  LEFT JOIN admin_area v ON v.code = t.village_code AND v.retired_at IS NULL
  WHERE t.retired_at IS NULL
)
SELECT ST_AsMVT(mvtgeom.*, 'change_patch', 4096, 'geom', 'fid') FROM mvtgeom
