"""The layer catalogue (``catalogue.yaml``) and the sample township (``sample/township.gpkg``).

Installed as the package ``geo_enforce.layers`` (see ``pyproject.toml``), so the catalogue is
found with :mod:`importlib.resources` in an editable checkout and in a built wheel alike.
"""
