"""Test helpers: seeds, canonical geometries, layer files."""
