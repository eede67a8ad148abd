"""The ``geo-enforce`` command line (typer).

Each sibling module registers its commands on the shared ``app`` from ``common`` when imported;
this package imports every sibling, so adding a command is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from geo_enforce.cli.common import app, run_guarded

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in ("common", "__main__"):
        importlib.import_module(f"{__name__}.{_mod.name}")


def main() -> None:
    run_guarded(app, sys.argv[1:])


__all__ = ["app", "main"]
