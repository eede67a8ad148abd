"""Regenerate layers/sample/township.gpkg from geo_enforce.demo.sample (seeded, deterministic).

.venv/bin/python scripts/make_sample.py [--seed 2024] [--out layers/sample/township.gpkg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geo_enforce.demo.sample import DEFAULT_SEED, SAMPLE_GPKG, write_township


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, default=SAMPLE_GPKG)
    args = ap.parse_args()
    path = write_township(args.out, seed=args.seed)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
