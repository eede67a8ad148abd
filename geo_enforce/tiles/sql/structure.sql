-- Mapbox vector tile of current structures (违法建设) for tile :z/:x/:y (Web Mercator).
-- Geometry stored in EPSG:4490; the index is used through the envelope transformed to 4490.
-- (No 'WHERE geom IS NOT NULL' on the result: ST_AsMVT skips rows whose geometry clipped
-- away, and the filter would make PostgreSQL compute ST_AsMVTGeom twice.)
WITH bounds AS (
  SELECT ST_TileEnvelope(:z, :x, :y) AS env,
         ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS env4490
),
mvtgeom AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, 4096, 64, true) AS geom,
         t.id AS fid,
         t.id, t.case_no, t.village_code, v.name AS village_name, t.address, t.category,
         t.status, t.floors, t.area_m2,
         t.area_mu,
         t.floor_area_m2,
         t.discovered_on::text AS discovered_on, t.notice_on::text AS notice_on,
         t.demolished_on::text AS demolished_on, t.closed_on::text AS closed_on
  FROM bounds
  JOIN structure t ON t.geom && bounds.env4490
  LEFT JOIN admin_area v ON v.code = t.village_code AND v.retired_at IS NULL
  WHERE t.retired_at IS NULL
)
SELECT ST_AsMVT(mvtgeom.*, 'structure', 4096, 'geom', 'fid') FROM mvtgeom
