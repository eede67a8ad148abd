"""Farmland verification for the planning liaison (农用地核实).

- :mod:`~geo_enforce.farmland.lookup`: parcels by patch code, point (lon/lat or GK zone 39) or
  polygon;
- :mod:`~geo_enforce.farmland.overlay`: the overlay report (areas from PostGIS, ellipsoidal);
- :mod:`~geo_enforce.farmland.verify`: verification records, status history, structure cases;
- :mod:`~geo_enforce.farmland.photos`: JPEG photos with EXIF position/heading/time, map layer;
- :mod:`~geo_enforce.farmland.rulings`: patch rulings, counts/areas, illegal farmland share;
- :mod:`~geo_enforce.farmland.sheet`: the printable sheet (DOCX and PDF) with a map snapshot;
- :mod:`~geo_enforce.farmland.results`: the typed results all of them return (codes and
  numbers; labels and URLs are added by the API's response models, the sheet and the CLI).
"""
