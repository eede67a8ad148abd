"""Fault tests: PostgreSQL restarted under load; a restore reproduces the ledger exactly.

The restart test runs its own private PostgreSQL cluster (``geo_enforce.storage.localdb`` in a tmp
folder), so restarting it never disturbs the shared test cluster, and serves the API with
uvicorn on loopback. (The "detection run killed mid-way resumes" fault test lives with the
detection engine's tests.)
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from api import create_app
from geo_enforce.access import auth
from geo_enforce.settings import LocalDbSettings, Settings
from geo_enforce.storage import backup, localdb
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from geo_enforce.storage.migrate import upgrade

WORKERS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_cluster():
    # not under pytest's tmp_path: pytest keeps its base folder 0700, which the postgres
    # server user cannot traverse
    base = Path(tempfile.mkdtemp(prefix="ge-fault-"))
    # no fixed port: the cluster must come back on the port it remembered, where the API's
    # pool points (it used to move when the old connections sat in TIME_WAIT)
    cfg = LocalDbSettings(dir=base / "pg", dbname="ge_fault")
    try:
        url = localdb.start(cfg, echo=lambda *_: None)
        upgrade(localdb.url_for(localdb.status(cfg).port or 0, cfg.dbname, localdb.OWNER_ROLE))
        yield cfg, url
    finally:
        localdb.stop(cfg)
        shutil.rmtree(base, ignore_errors=True)


class Server:
    """uvicorn serving the app on a loopback port in a thread."""

    def __init__(self, app) -> None:
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                break
            time.sleep(0.05)
        assert self.server.started, "uvicorn did not start"
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.mark.slow
def test_api_survives_postgres_restart(private_cluster, tmp_path):
    cfg, url = private_cluster
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine), "test:faults") as s:
        auth.create_user(s, "fault_admin", "admin")
        token, _ = auth.issue_token(s, "fault_admin", ttl_days=1)
    engine.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(Settings(database_url=url, data_dir=tmp_path / "var"))

    outcomes: list[tuple[str, str, int | str]] = []  # (kind, name, status or exception)
    timed: list[tuple[float, int | str]] = []  # (monotonic start of the request, outcome)
    up_at = [float("inf")]  # when localdb.start returned
    lock = threading.Lock()
    stop = threading.Event()
    restarted = threading.Event()
    after_restart = [0]

    def worker(n: int, base: str) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            i = 0
            while not stop.is_set() and i < 2000:
                i += 1
                name = f"w{n}_{i}_{uuid.uuid4().hex[:4]}"
                body = {"name": name, "role": "viewer"}
                for kind, method, path, payload in (
                    ("write", "POST", "/users", body),
                    ("read", "GET", "/public/cases", None),
                ):
                    began = time.monotonic()
                    try:
                        status: int | str = c.request(method, path, json=payload).status_code
                    except httpx.HTTPError as exc:  # the server itself must never drop us
                        status = type(exc).__name__
                    with lock:
                        outcomes.append((kind, name, status))
                        timed.append((began, status))
                        if restarted.is_set():
                            after_restart[0] += 1

    with Server(app) as base:
        threads = [threading.Thread(target=worker, args=(n, base)) for n in range(WORKERS)]
        for t in threads:
            t.start()
        while len(outcomes) < 60:  # load is running
            time.sleep(0.05)
        port_before = localdb.status(cfg).port
        down_at = time.monotonic()
        localdb.stop(cfg)  # fast shutdown: open transactions are aborted
        time.sleep(0.5)  # requests now meet a dead database
        assert localdb.start(cfg, echo=lambda *_: None) == url, "the database moved"
        up_at[0] = time.monotonic()
        restarted.set()
        assert localdb.status(cfg).port == port_before
        for _ in range(600):  # bounded: until the load has gone on after the restart
            if after_restart[0] >= 60:
                break
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(60)
        # the same server process, never restarted, serves reads and writes again
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            assert c.get("/me").status_code == 200
            assert (
                c.post("/users", json={"name": "after_restart", "role": "viewer"}).status_code
                == 201
            )
            refused = c.get("/public/cases")
            assert refused.status_code == 200

    # zero errors beyond the restart window: every request begun after the database was back
    # (the same API process, its pool pre-pinging stale connections) succeeded
    after = [st for began, st in timed if began >= up_at[0]]
    failed_after = [st for st in after if st not in (200, 201)]
    print(
        f"\nrestart figures: {len(timed)} requests, {sum(st == 503 for _, st in timed)} answered "
        f"503 during the outage ({up_at[0] - down_at:.2f} s from stop to ready), "
        f"{len(after)} begun after the restart, {len(failed_after)} of them failed"
    )
    assert after and not failed_after, f"errors after the restart window: {failed_after[:5]}"
    statuses = {s for _, _, s in outcomes}
    assert statuses <= {200, 201, 503}, f"unexpected outcomes: {statuses - {200, 201, 503}}"
    assert after_restart[0] >= 60
    assert any(s == 503 for _, _, s in outcomes), "the load never met the outage"
    written = {n for k, n, s in outcomes if k == "write" and s == 201}
    refused_writes = {n for k, n, s in outcomes if k == "write" and s == 503}
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT name FROM app_user")).scalars())
        audited = list(
            conn.execute(
                text("SELECT new_row->>'name' FROM audit_log WHERE table_name = 'app_user'")
            ).scalars()
        )
    engine.dispose()
    assert written <= stored, "a write answered 201 is missing"
    assert not (refused_writes & stored), "a write answered 503 was committed"
    # every committed write has exactly one audit entry
    assert sorted(n for n in audited if n in written) == sorted(written)


def test_restore_reproduces_audit_log_and_area_totals(db_url, pg_port, tmp_path):
    from geo_enforce.demo.sample import load_township

    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    load_township(factory, actor="cli:sample")
    with transaction(factory, "api:editor1") as s:  # edits and a retirement in the log
        s.execute(text("UPDATE structure SET floors = floors + 1 WHERE id % 7 = 0"))
        s.execute(
            text(
                "UPDATE cleared_parcel SET retired_at = now(), retired_by = 'api:editor1', "
                "retire_reason = '重复' WHERE id = (SELECT min(id) FROM cleared_parcel)"
            )
        )

    def snapshot(url: str):
        eng = make_engine(url)
        with eng.connect() as conn:
            audit_rows = conn.execute(text("SELECT * FROM audit_log ORDER BY id")).all()
            totals = conn.execute(
                text(
                    "SELECT 'structure' AS t, village_code, status, sum(area_m2::numeric), "
                    "sum(floor_area_m2::numeric), count(*) FROM structure "
                    "WHERE retired_at IS NULL GROUP BY village_code, status "
                    "UNION ALL SELECT 'cleared_parcel', village_code, '', sum(area_m2::numeric), "
                    "sum(area_mu::numeric), count(*) FROM cleared_parcel "
                    "WHERE retired_at IS NULL GROUP BY village_code "
                    "UNION ALL SELECT 'farmland_parcel', village_code, land_class, "
                    "sum(area_m2::numeric), sum(area_mu::numeric), count(*) "
                    "FROM farmland_parcel WHERE retired_at IS NULL GROUP BY village_code, "
                    "land_class ORDER BY 1, 2, 3"
                )
            ).all()
        eng.dispose()
        return audit_rows, totals

    audit_before, totals_before = snapshot(db_url)
    assert len(audit_before) > 700 and len(totals_before) > 10
    archive = backup.backup(db_url, tmp_path / "var", tmp_path / "b.tar").path
    engine.dispose()

    name = f"ge_rf_{uuid.uuid4().hex[:10]}"
    target = localdb.ensure_database(pg_port, name)
    try:
        backup.restore(archive, target, tmp_path / "var2")
        audit_after, totals_after = snapshot(target)
    finally:
        localdb.drop_database(pg_port, name)
    assert audit_after == audit_before
    assert totals_after == totals_before
