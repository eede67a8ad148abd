-- Mapbox vector tile of current farmland parcels (农用地图斑, GB/T 21010 class) for :z/:x/:y.
-- (No 'WHERE geom IS NOT NULL' on the result: ST_AsMVT skips rows whose geometry clipped
-- away, and the filter would make PostgreSQL compute ST_AsMVTGeom twice.)
WITH bounds AS (
  SELECT ST_TileEnvelope(:z, :x, :y) AS env,
         ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS env4490
),
mvtgeom AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, 4096, 64, true) AS geom,
         t.id AS fid,
         t.id, t.patch_code, t.land_class, t.is_permanent_basic, t.village_code,
         v.name AS village_name,
         t.area_m2,
         t.area_mu
  FROM bounds
  JOIN farmland_parcel t ON t.geom && bounds.env4490
  LEFT JOIN admin_area v ON v.code = t.village_code AND v.retired_at IS NULL
  WHERE t.retired_at IS NULL
)
SELECT ST_AsMVT(mvtgeom.*, 'farmland_parcel', 4096, 'geom', 'fid') FROM mvtgeom
