"""``geo-enforce serve``: run the API with uvicorn."""

from __future__ import annotations

import typer

from geo_enforce.cli.common import app


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 in a container)"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, help="worker processes"),
    log_level: str = typer.Option("info"),
) -> None:
    """Serve the API (OGC collections, tiles, reports, map) built by api.create_app()."""
    import uvicorn

    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
    )
