"""Ministry satellite patches (卫片执法图斑): import, 举证 evidence, ruling, rectification.

- :mod:`~geo_enforce.mnr.imports`: read the ministry's patch file (SHP/GPKG/GeoJSON) and store
  each patch as a change patch of source ``mnr`` with its patch number, checked by the same
  rules as patches found by the project's flights;
- :mod:`~geo_enforce.mnr.evidence`: 举证 per patch (JPEG photos, PDF documents, the approval
  number), append-only, files under ``data_dir`` with their SHA-256;
- :mod:`~geo_enforce.mnr.ruling`: the ruling (合法/违法/其他/伪变化) and the rectification
  status (未整改/整改中/已整改), version-checked and audited;
- :mod:`~geo_enforce.mnr.quarterly`: the quarterly table of counts and areas by ruling.
"""
