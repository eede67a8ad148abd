"""Drone imagery: flight catalogue (COG, footprint, STAC), alignment on a common grid, and
seeded synthetic flights with known truth. See ``docs/detection.md``."""
