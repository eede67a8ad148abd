"""The embedded PostGIS: idempotent start, status and URL through the CLI, DATABASE_URL wins."""

from __future__ import annotations

import json

from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from geo_enforce.cli import app, common
from geo_enforce.settings import LocalDbSettings, Settings
from geo_enforce.storage import localdb
from tests.conftest import ROOT


def test_second_start_reuses_running_cluster(pg_port):
    cfg = LocalDbSettings(dir=ROOT / ".pgdata", dbname="ge_localdb_probe")
    url = localdb.start(cfg, echo=lambda *_: None)
    assert url == localdb.url_for(pg_port, "ge_localdb_probe")
    st = localdb.status(cfg)
    assert st.running and st.port == pg_port
    localdb.drop_database(pg_port, "ge_localdb_probe")


def test_cli_status_and_url(pg_port, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("GEO_ENFORCE_LOCAL_DB__DIR", str(ROOT / ".pgdata"))
    common.settings.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(app, ["db", "status"])
        assert res.exit_code == 0, res.output
        body = json.loads(res.output)
        assert body["running"] is True and body["port"] == pg_port
        password = make_url(localdb.url_for(pg_port, "geo_enforce")).password
        assert password and password not in res.output  # status hides it; `db url` shows it
        assert body["url"] == f"postgresql+psycopg2://ge_app:***@127.0.0.1:{pg_port}/geo_enforce"
        res = runner.invoke(app, ["db", "url"])
        assert res.output.strip() == localdb.url_for(pg_port, "geo_enforce")
        monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/x")
        common.settings.cache_clear()
        res = runner.invoke(app, ["db", "url"])
        assert res.output.strip() == "postgresql+psycopg2://u:p@db.example:5432/x"
    finally:
        common.settings.cache_clear()


def test_status_of_a_missing_cluster(tmp_path):
    st = localdb.status(LocalDbSettings(dir=tmp_path / "none"))
    assert not st.running and st.url is None


def test_placeholder_password_rejected(monkeypatch):
    import pytest
    from pydantic import ValidationError

    monkeypatch.setenv("DATABASE_URL", "postgresql://u:changeme@h/db")
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()
