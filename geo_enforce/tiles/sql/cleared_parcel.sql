-- Mapbox vector tile of current cleared parcels (腾退地块) for tile :z/:x/:y.
-- (No 'WHERE geom IS NOT NULL' on the result: ST_AsMVT skips rows whose geometry clipped
-- away, and the filter would make PostgreSQL compute ST_AsMVTGeom twice.)
WITH bounds AS (
  SELECT ST_TileEnvelope(:z, :x, :y) AS env,
         ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS env4490
),
mvtgeom AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, 4096, 64, true) AS geom,
         t.id AS fid,
         t.id, t.parcel_no, t.village_code, v.name AS village_name, t.prior_use,
         t.cleared_on::text AS cleared_on, t.restored_use,
         t.area_m2,
         t.area_mu
  FROM bounds
  JOIN cleared_parcel t ON t.geom && bounds.env4490
  LEFT JOIN admin_area v ON v.code = t.village_code AND v.retired_at IS NULL
  WHERE t.retired_at IS NULL
)
SELECT ST_AsMVT(mvtgeom.*, 'cleared_parcel', 4096, 'geom', 'fid') FROM mvtgeom
