"""``geo-enforce demo``: the whole job on the embedded default, start to finish.

Starts the local PostGIS (or uses DATABASE_URL), migrates, loads the sample's two townships (a
town and a subdistrict), creates a demo admin (every township) and an editor per township with
tokens, prints each township's totals, then serves the API. Callers without a token get the
public view only (公示, ``anonymous_role='public'``); the squad's map needs a token (the
Authorization header, or the ``ge_token`` cookie in a browser), and the offline map file opens
anywhere. Each step is idempotent: running the demo twice reuses what is there.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.panel import Panel

from geo_enforce.cli.common import app, console, out, settings


def _step(n: int, total: int, text: str) -> None:
    console.rule(f"[bold cyan]{n}/{total}[/] {text}")


DEMO_STEPS = 8
#: where the demo admin token is kept: beside the project, never under the data directory
DEMO_TOKEN_FILE = Path(".demo-token")


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="address the API listens on"),
    port: int = typer.Option(8000, help="API port"),
    serve: bool = typer.Option(True, help="serve the API at the end (Ctrl-C to stop)"),
    out_dir: Path = typer.Option(Path("var/demo"), help="where the map and reports are written"),
) -> None:
    """Start PostGIS, load the sample township, detect, print totals and campaigns, write the
    map, serve."""
    from sqlalchemy.engine import make_url

    from geo_enforce.storage import localdb
    from geo_enforce.storage.engine import make_engine, make_sessionmaker, resolve_database_url
    from geo_enforce.storage.migrate import upgrade

    s = settings()
    out_dir.mkdir(parents=True, exist_ok=True)

    _step(1, DEMO_STEPS, "数据库 PostGIS: start and migrate")
    if s.database_url:
        console.print("DATABASE_URL is set: using it")
    else:
        localdb.start(s.local_db, echo=lambda m: console.print(m))
    upgrade(resolve_database_url(s, owner=True))
    url = resolve_database_url(s)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    console.print(f"database: {make_url(url).render_as_string(hide_password=True)}")

    _step(2, DEMO_STEPS, "示范镇与示范街道: load the sample's two townships")
    from geo_enforce.demo.sample import SUBDISTRICT_CODE, TOWN_CODE, load_sample

    for code, counts in load_sample(factory, actor="cli:demo").items():
        console.print(f"{code}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    _step(3, DEMO_STEPS, "用户: demo admin token, one editor per township")
    token = _demo_token(factory)
    township_tokens = _demo_township_tokens(factory, (TOWN_CODE, SUBDISTRICT_CODE))

    _step(4, DEMO_STEPS, "变化检测: synthetic flights over the township")
    from geo_enforce.demo.detection import run_demo_detection

    detection = run_demo_detection(factory, s.data_dir, scheduler=s.dask_scheduler)
    _print_detection(detection)

    _step(5, DEMO_STEPS, "农用地核实: verifications with photos, patch rulings, sheets")
    from geo_enforce.demo.farmland import demo_farmland

    farm = demo_farmland(factory, s, out_dir=out_dir / "sheets")
    console.print(
        f"verified parcel {farm['occupied_patch_code']}: {len(farm['photo_ids'])} photos, "
        f"{len(farm['photo_warnings'])} far-photo warnings, {farm['patches_ruled']} patches ruled"
    )
    for sheet in farm["sheets"]:
        console.print(f"sheet: {sheet}")

    _step(6, DEMO_STEPS, "面积统计: area totals of each township for the report")
    from geo_enforce.reports import print_area_totals

    for code in (TOWN_CODE, SUBDISTRICT_CODE):
        print_area_totals(factory, console=out, township=code)

    _step(7, DEMO_STEPS, "专项治理与占压: campaigns with progress, pipeline rule hits")
    from geo_enforce.cli.campaign import hits_table, progress_table
    from geo_enforce.demo.campaigns import demo_campaigns

    campaigns = demo_campaigns(factory)
    out.print(progress_table(campaigns["progress"]))
    out.print(hits_table(campaigns["hits"], f"占压管线及堤防 {len(campaigns['hits'])} 处"))

    _step(8, DEMO_STEPS, "现场地图: map for the squad")
    from geo_enforce.demo.webmap import write_demo_map

    map_path = write_demo_map(factory, s, out_dir / "map.html")
    engine.dispose()

    base = f"http://{host}:{port}"
    out.print(
        Panel.fit(
            f"API:            {base}/docs\n"
            f"Map (online):   {base}/map  (sign in there with the admin token)\n"
            f"Map (offline):  {map_path.resolve()}\n"
            f"公示 (public):   {base}/public/cases\n"
            f"Admin token:    {token}\n"
            + "".join(f"编辑 {code}: {tok}\n" for code, tok in township_tokens.items())
            + f"Area totals:    {base}/reports/areas?group_by=township\n"
            f"One township:   {base}/map?township={SUBDISTRICT_CODE}\n"
            f"Campaigns:      {base}/campaigns  (chart: {base}/campaigns/progress.png)\n"
            f"占压 hits:       {base}/pipelines/hits",
            title="geo-enforce demo",
        )
    )
    if serve:
        import uvicorn

        from api import create_app

        demo_settings = s.model_copy(
            update={
                "database_url": url,
                "auth": s.auth.model_copy(update={"anonymous_role": "public"}),
            }
        )
        uvicorn.run(create_app(demo_settings), host=host, port=port, log_level="info")


def _demo_token(factory) -> str:
    """Create the 'demo-admin' user (once) and issue a fresh token, kept in DEMO_TOKEN_FILE.

    The file (0600) lies outside the data directory, so backups never carry the token.
    """
    from sqlalchemy import select

    from geo_enforce.access.auth import create_user, issue_token
    from geo_enforce.storage.engine import transaction
    from geo_enforce.storage.models import AppUser

    with transaction(factory, "cli:demo") as session:
        if session.scalar(select(AppUser).where(AppUser.name == "demo-admin")) is None:
            create_user(session, "demo-admin", "admin", display_name="演示管理员")
        token, _ = issue_token(session, "demo-admin", ttl_days=7, label="demo")
    path = DEMO_TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    path.chmod(0o600)
    return token


def _demo_township_tokens(factory, codes: tuple[str, ...]) -> dict[str, str]:
    """An editor per township (``demo-<code>``, created once and granted that township) with a
    fresh token each: they see and write only their own township's records."""
    from sqlalchemy import select

    from geo_enforce.access.auth import create_user, issue_token
    from geo_enforce.access.townships import grant, townships_of
    from geo_enforce.storage.engine import transaction
    from geo_enforce.storage.models import AppUser

    tokens: dict[str, str] = {}
    with transaction(factory, "cli:demo") as session:
        for code in codes:
            name = f"demo-{code}"
            if session.scalar(select(AppUser).where(AppUser.name == name)) is None:
                create_user(session, name, "editor", display_name=f"演示编辑{code}")
            if code not in townships_of(session, name):
                grant(session, name, code, actor="cli:demo")
            tokens[code], _ = issue_token(session, name, ttl_days=7, label="demo")
    return tokens


def _print_detection(detection: dict) -> None:
    from rich.table import Table

    from geo_enforce.detection.patches import CHANGE_KINDS
    from geo_enforce.detection.rules import ALL_RULES
    from geo_enforce.geometry.areas import m2_to_mu

    flights = detection.get("flights", {})
    table = Table(title=f"变化检测 {flights.get('before', '')} → {flights.get('after', '')}")
    table.add_column("项目")
    table.add_column("结果", justify="right")
    area = float(detection.get("area_m2", 0.0))
    table.add_row("变化图斑 (patches)", str(detection.get("patches", 0)))
    table.add_row("图斑面积", f"{area:,.2f} 平方米 ({m2_to_mu(area):.2f} 亩)")
    table.add_row("配准残差 (residual shift)", f"{detection.get('shift_m', 0)} m")
    for kind, n in detection.get("by_kind", {}).items():
        table.add_row(CHANGE_KINDS.get(kind, kind), str(n))
    for rule, n in detection.get("rule_hits", {}).items():
        table.add_row(ALL_RULES.get(rule, rule), str(n))
    out.print(table)
