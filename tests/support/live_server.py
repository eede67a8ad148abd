"""A real API server (uvicorn in a child process on a free loopback port) for clients that
speak HTTP themselves: GDAL (pyogrio, ogr2ogr, /vsicurl/), or several app instances at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_api(
    db_url: str,
    data_dir: Path,
    *,
    python: str = sys.executable,
    cwd: Path = ROOT,
    base_env: dict[str, str] | None = None,
    **env: str,
) -> Iterator[str]:
    """Serve ``create_app()`` on ``db_url``; yields the base URL (``http://127.0.0.1:port``).

    Extra ``env`` entries are settings (``GEO_ENFORCE_…``). ``python``, ``cwd`` and
    ``base_env`` (default: this process's environment) let an installed copy serve, away from
    the checkout. The server's output goes to a log file next to ``data_dir``, shown when it
    fails to start.
    """
    port = free_port()
    log = data_dir.parent / f"uvicorn-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        **(os.environ if base_env is None else base_env),
        "DATABASE_URL": db_url,
        "GEO_ENFORCE_DATA_DIR": str(data_dir),
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                python,
                "-m",
                "uvicorn",
                "--factory",
                "api:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=cwd,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"API server exited: {log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"API server did not start: {log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
