"""Change detection between flights: pluggable detectors, the windowed Dask runner, region
merging and measuring, rules against stored layers, evidence chips and detection runs.

The demo entry point is :func:`geo_enforce.demo.detection.run_demo_detection`. See
``docs/detection.md``."""
