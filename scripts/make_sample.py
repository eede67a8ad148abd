"""Regenerate layers/sample/township.gpkg and subdistrict.gpkg from geo_enforce.demo.sample
(seeded, deterministic): the town and the subdistrict of the sample's two townships.

.venv/bin/python scripts/make_sample.py [--seed 2024] [--out layers/sample/township.gpkg]
    [--subdistrict-out layers/sample/subdistrict.gpkg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geo_enforce.demo.sample import (
    DEFAULT_SEED,
    SAMPLE_GPKG,
    SUBDISTRICT_GPKG,
    write_subdistrict,
    write_township,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, default=SAMPLE_GPKG)
    ap.add_argument("--subdistrict-out", type=Path, default=SUBDISTRICT_GPKG)
    args = ap.parse_args()
    print(f"wrote {write_township(args.out, seed=args.seed)}")
    print(f"wrote {write_subdistrict(args.subdistrict_out, seed=args.seed)}")


if __name__ == "__main__":
    main()
