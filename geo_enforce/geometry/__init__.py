"""Geometry: CRS handling (CGCS2000, Gauss-Krüger zone 39, GCJ-02/BD-09) and official
ellipsoidal areas in m² and mu."""
