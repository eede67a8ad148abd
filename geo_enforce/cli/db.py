"""``geo-enforce db``: the embedded PostGIS cluster and migrations."""

from __future__ import annotations

import typer

from geo_enforce.cli.common import app, console, out, settings
from geo_enforce.storage import localdb

db_app = typer.Typer(help="Embedded local PostGIS (or DATABASE_URL) and schema migrations.")
app.add_typer(db_app, name="db")


@db_app.command()
def start(migrate: bool = typer.Option(True, help="apply migrations after starting")) -> None:
    """Install PostGIS if missing, start the private cluster, create the database, migrate."""
    s = settings()
    if s.database_url:
        url = s.database_url
        console.print("DATABASE_URL is set: using it, not starting a local cluster")
    else:
        url = localdb.start(s.local_db, echo=lambda m: console.print(m))
    if migrate:
        from geo_enforce.storage.engine import resolve_database_url
        from geo_enforce.storage.migrate import upgrade

        upgrade(resolve_database_url(s, owner=True))
    out.print(url, highlight=False)


@db_app.command()
def stop() -> None:
    """Stop the local cluster."""
    was = localdb.stop(settings().local_db)
    console.print("stopped" if was else "not running")


@db_app.command()
def status() -> None:
    """Show whether the local cluster runs, its folder and port."""
    from sqlalchemy.engine import make_url

    st = localdb.status(settings().local_db)
    out.print_json(
        data={
            "running": st.running,
            "port": st.port,
            "data_dir": str(st.data_dir),
            # the password stays out of status output: 'geo-enforce db url' prints it
            "url": make_url(st.url).render_as_string(hide_password=True) if st.url else None,
            "database_url_env": bool(settings().database_url),
        }
    )
    if not st.running and not settings().database_url:
        raise typer.Exit(1)


@db_app.command()
def url() -> None:
    """Print the database URL the API and CLI use (the app role, with its password)."""
    from geo_enforce.storage.engine import resolve_database_url

    out.print(resolve_database_url(settings()), highlight=False)


@db_app.command()
def migrate() -> None:
    """Apply all Alembic migrations as the schema owner, then the app role's grants."""
    from geo_enforce.storage.engine import resolve_database_url
    from geo_enforce.storage.migrate import upgrade

    upgrade(resolve_database_url(settings(), owner=True))
    console.print("schema up to date")
