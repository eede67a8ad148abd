"""Experiment behind docs/benchmarks.md: what the per-row audit trigger costs an import.

    .venv/bin/python bench/import_audit_experiment.py FILE.gpkg [row stmt none ...]

Imports FILE (e.g. the GeoPackage bench/import_bench.py writes) with ``import_frame`` into a fresh
migrated database per mode and prints the time and the audit rows written:

- ``row``: the schema as migrated (``t90_audit`` FOR EACH ROW);
- ``stmt``: inserts audited by one statement-level trigger over the transition table
  (``REFERENCING NEW TABLE``), updates still by the row trigger: the same audit rows;
- ``none``: the audit trigger disabled (a floor, not an option).

The database schema is not changed by this script beyond the throw-away databases it creates.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo_enforce.io import read_vector  # noqa: E402
from geo_enforce.io.importer import import_frame  # noqa: E402
from geo_enforce.settings import LocalDbSettings  # noqa: E402
from geo_enforce.storage import localdb  # noqa: E402
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction  # noqa: E402
from geo_enforce.storage.migrate import upgrade  # noqa: E402

STATEMENT_AUDIT = """
CREATE OR REPLACE FUNCTION ge_audit_insert_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_log (table_name, record_id, action, actor, at, txid, old_row, new_row)
  SELECT TG_TABLE_NAME, n.id, 'insert', ge_audit_actor(), clock_timestamp(), txid_current(),
         NULL, to_jsonb(n)
  FROM new_rows n;
  RETURN NULL;
END $$;
DROP TRIGGER t90_audit ON structure;
CREATE TRIGGER t90_audit_ins AFTER INSERT ON structure REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ge_audit_insert_stmt();
CREATE TRIGGER t90_audit_upd AFTER UPDATE ON structure
  FOR EACH ROW EXECUTE FUNCTION ge_audit();
"""


def main() -> None:
    path, modes = sys.argv[1], sys.argv[2:] or ["row", "stmt", "none"]
    cfg = LocalDbSettings(dir=Path(os.environ.get("GEO_ENFORCE_BENCH_PGDATA", ROOT / ".pgdata")))
    url = localdb.start(cfg, echo=lambda *_: None)
    port = int(url.split(":")[-1].split("/")[0])
    gdf = read_vector(path)
    for mode in modes:
        db = localdb.ensure_database(port, "ge_bench_audit", fresh=True)
        upgrade(db)
        eng = make_engine(db)
        try:
            with eng.begin() as c:
                if mode == "stmt":
                    c.execute(text(STATEMENT_AUDIT))
                elif mode == "none":
                    c.execute(text("ALTER TABLE structure DISABLE TRIGGER t90_audit"))
            t0 = time.perf_counter()
            with transaction(make_sessionmaker(eng), "bench") as s:
                import_frame(s, "structure", gdf)
            elapsed = time.perf_counter() - t0
            with eng.connect() as c:
                audit = c.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
            print(f"{mode:5s} {elapsed:6.2f} s  audit rows {audit}", flush=True)
        finally:
            eng.dispose()
            localdb.drop_database(port, "ge_bench_audit")


if __name__ == "__main__":
    main()
