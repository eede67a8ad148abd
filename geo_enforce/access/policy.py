"""The route-policy table: every HTTP route of the API and the least role it needs.

One table, three uses:

- ``api.deps.enforce_policy`` (installed on every route by ``create_app``) looks the matched
  route up here and refuses a caller below its role; a route missing from the table is refused
  for everyone (deny by default) until it is added;
- ``tests/api/test_roles.py`` checks the table lists every route of the app and nothing else,
  that each handler's own ``Viewer``/``Liaison``/``Editor``/``Admin`` declaration agrees, and
  sends every route each role;
- the route table in ``docs/security.md`` is :func:`markdown_table` (a test compares them;
  ``python -m geo_enforce.access.policy`` prints it).

Decisions recorded here: registering and retiring flights is ``admin`` (a flight is reference
imagery every later detection run and report depends on); opening a structure case from a field
verification is ``editor`` (registering a case is enforcement staff's decision, the liaison
records what they saw); capture (patrol records, evidence on a case) is ``inspector``, the squad
member on site, ranked above ``liaison`` (whose field verifications an inspector may also record)
and below ``editor``: closing a demolition with its 拆除后 evidence is a status transition, so
it stays ``editor``. No web framework is imported: paths are the route templates as written
in the routers (``{name}`` and ``{name:path}`` placeholders).
"""

from __future__ import annotations

from dataclasses import dataclass

from geo_enforce.settings import ROLES

#: Marker for routes open without a token (health, 公示 views, API docs, static assets).
PUBLIC = "public"


@dataclass(frozen=True)
class Rule:
    """One row of the table: ``method path`` needs at least ``role``."""

    method: str
    path: str
    role: str
    note: str = ""


def _rules(role: str, *routes: tuple[str, str] | tuple[str, str, str]) -> list[Rule]:
    return [Rule(r[0], r[1], role, r[2] if len(r) > 2 else "") for r in routes]


#: Every route of the API, grouped by least role.
RULES: tuple[Rule, ...] = tuple(
    _rules(
        PUBLIC,
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/docs", "Swagger UI, assets served locally"),
        ("GET", "/redoc", "ReDoc, assets served locally"),
        ("GET", "/public/cases", "公示: decided cases, no personal data"),
        ("GET", "/public/cases.geojson", "公示 as GeoJSON points"),
        ("GET", "/static/vendor/{path:path}", "Leaflet, Swagger UI, ReDoc files (no data)"),
        ("GET", "/static/webmap/{path:path}", "the map's own script and style (no data)"),
        ("GET", "/map/login", "token form: sets the ge_token cookie (no data)"),
        ("GET", "/map/sw.js", "the map's service worker (no data)"),
        ("GET", "/map/manifest.webmanifest", "web app manifest (no data)"),
        ("GET", "/map/icons/{size}.png", "app icon (no data)"),
    )
    + _rules(
        "viewer",
        ("GET", "/me"),
        ("GET", "/"),
        ("GET", "/conformance"),
        ("GET", "/campaigns", "专项治理 with progress"),
        ("GET", "/campaigns/progress.png", "progress chart"),
        ("GET", "/campaigns/{ref}", "sends ETag"),
        ("GET", "/campaigns/{ref}/cases"),
        ("GET", "/pipelines/rules", "占压 rules, safety distances"),
        ("GET", "/pipelines/hits", "cases/patches within the distance"),
        ("GET", "/collections"),
        ("GET", "/collections/{collection_id}"),
        ("GET", "/collections/{collection_id}/items"),
        ("GET", "/collections/{collection_id}/items/{item_id}"),
        ("GET", "/collections/{collection_id}/schema", "JSON Schema of the features"),
        ("GET", "/api", "the OpenAPI document, as /openapi.json"),
        ("GET", "/stac"),
        ("GET", "/stac/conformance"),
        ("GET", "/stac/collections"),
        ("GET", "/stac/collections/{collection_id}"),
        ("GET", "/stac/collections/{collection_id}/items"),
        ("GET", "/stac/collections/{collection_id}/items/{item_id}"),
        ("GET", "/stac/collections/{collection_id}/items/{item_id}/{asset}.tif", "HTTP ranges"),
        ("GET", "/stac/search"),
        ("GET", "/styles/{name}.json", "MapLibre style"),
        ("GET", "/styles/{layer}.qml", "QGIS layer style"),
        ("GET", "/tiles/{layer}.json", "TileJSON"),
        ("GET", "/flights"),
        ("GET", "/flights/{ref}"),
        ("GET", "/detection-runs"),
        ("GET", "/detection-runs/{run_id}"),
        ("GET", "/map"),
        ("GET", "/map/search"),
        ("GET", "/map/chips/{patch_id}/{which}"),
        ("GET", "/map/offline-plan", "a village's tiles and size for offline use"),
        ("GET", "/mnr/patches", "卫片图斑 as GeoJSON"),
        ("GET", "/mnr/patches/{patch_no}", "sends ETag"),
        ("GET", "/mnr/patches/{patch_no}/evidence/{evidence_id}/file"),
        ("GET", "/mnr/quarterly", "JSON or XLSX"),
        ("GET", "/parcels/at"),
        ("GET", "/parcels/{patch_code}"),
        ("GET", "/parcels/{patch_code}/report"),
        ("GET", "/parcels/{patch_code}/sheet"),
        ("GET", "/patches"),
        ("GET", "/patches/{patch_id}"),
        ("GET", "/patches/{patch_id}/chips/{which}"),
        ("GET", "/reports/areas"),
        ("GET", "/reports/cleared-parcels"),
        ("GET", "/reports/change-patches"),
        ("GET", "/reports/annual"),
        ("GET", "/rulings/summary"),
        ("GET", "/rulings/farmland-share"),
        ("GET", "/rulings/{patch_code}"),
        ("GET", "/structures/overdue", "逾期未拆除; f=geojson for the map"),
        ("GET", "/townships", "基准日 of each township"),
        ("GET", "/structures/{structure_id}/stock-class"),
        ("GET", "/structures/by-case/{case_no}", "sends ETag"),
        ("GET", "/structures/{structure_id}", "sends ETag"),
        ("GET", "/structures/{structure_id}/transitions"),
        ("GET", "/tiles/{layer}/{z}/{x}/{y}.pbf"),
        ("GET", "/tiles/ortho/{flight_id}/{z}/{x}/{y}.{fmt}"),
        ("GET", "/verifications"),
        ("GET", "/verifications/photo-points"),
        ("GET", "/verifications/{verification_id}"),
        ("GET", "/verifications/{verification_id}/photos/{photo_id}"),
        ("GET", "/field/vocabularies", "patrol categories, evidence stages (Chinese labels)"),
        ("GET", "/field/patrols"),
        ("GET", "/field/patrols/{patrol_id}"),
        ("GET", "/field/files/{file_id}", "a captured photo, video or PDF"),
        ("GET", "/field/patches", "awaiting field check, nearest first"),
        ("GET", "/field/overdue", "today's 逾期 cases, nearest first"),
        ("GET", "/field/route.gpx", "GPX 1.1 of an ordered route list"),
        ("GET", "/structures/{structure_id}/evidence"),
        ("GET", "/structures/{structure_id}/timeline", "transitions, evidence, patrol records"),
    )
    + _rules(
        "liaison",
        ("POST", "/parcels/search", "read-only query"),
        ("POST", "/parcels/overlay", "read-only query"),
        ("POST", "/parcels/overlay/sheet", "read-only query"),
        ("POST", "/mnr/patches/{patch_no}/evidence", "举证, append-only"),
        ("POST", "/mnr/patches/{patch_no}/ruling", "If-Match required"),
        ("POST", "/mnr/patches/{patch_no}/rectification", "If-Match required"),
        ("POST", "/rulings/{patch_code}"),
        ("POST", "/verifications"),
        ("POST", "/verifications/{verification_id}/status"),
        ("POST", "/verifications/{verification_id}/photos"),
    )
    + _rules(
        "inspector",
        ("POST", "/field/patrols", "巡查记录; Idempotency-Key required"),
        ("POST", "/structures/{structure_id}/evidence", "取证; Idempotency-Key required"),
    )
    + _rules(
        "editor",
        ("GET", "/audit"),
        ("GET", "/audit/{table}/{record_id}"),
        ("POST", "/campaigns"),
        ("PATCH", "/campaigns/{ref}", "If-Match required"),
        ("POST", "/campaigns/{ref}/apply-scope", "tags by the scope's rules"),
        ("POST", "/campaigns/{ref}/cases", "tags by hand, with a reason"),
        ("POST", "/campaigns/{ref}/cases/{case_no}/untag", "with a reason"),
        ("POST", "/detection-runs"),
        ("POST", "/structures"),
        ("PATCH", "/structures/{structure_id}", "If-Match required"),
        ("POST", "/structures/{structure_id}/transitions", "If-Match required"),
        ("POST", "/structures/{structure_id}/stock-class", "If-Match required"),
        (
            "POST",
            "/structures/{structure_id}/close-demolition",
            "已拆除 citing 拆除后 evidence; If-Match required",
        ),
        ("POST", "/verifications/{verification_id}/structure-case", "opens a case"),
    )
    + _rules(
        "admin",
        ("POST", "/flights"),
        ("POST", "/flights/{ref}/retire"),
        ("POST", "/campaigns/{ref}/retire", "If-Match required"),
        ("PUT", "/townships/{code}/base-date", "re-classes 存量/增量; If-Match once set"),
        ("POST", "/structures/{structure_id}/retire", "If-Match required"),
        ("POST", "/verifications/{verification_id}/retire", "If-Match required"),
        ("POST", "/verifications/{verification_id}/photos/{photo_id}/retire", "If-Match required"),
        ("GET", "/users"),
        ("GET", "/users/{name}"),
        ("POST", "/users"),
        ("PATCH", "/users/{name}", "If-Match required"),
        ("POST", "/users/{name}/retire"),
        ("POST", "/users/{name}/tokens"),
        ("POST", "/users/{name}/townships", "scopes the user to a township (乡镇/街道)"),
        ("POST", "/users/{name}/townships/{code}/revoke", "the grant is retired"),
        ("POST", "/tokens/{token_id}/revoke"),
    )
)

POLICY: dict[tuple[str, str], str] = {(r.method, r.path): r.role for r in RULES}

if len(POLICY) != len(RULES):  # pragma: no cover - a duplicated row is a programming error
    raise RuntimeError("geo_enforce.access.policy lists a route twice")
if not {r.role for r in RULES} <= {PUBLIC, *ROLES}:  # pragma: no cover
    raise RuntimeError("geo_enforce.access.policy names an unknown role")


def required_role(method: str, path: str) -> str | None:
    """The least role for ``method path`` (a route template); PUBLIC for open routes, None for a
    route the table does not know (callers refuse those)."""
    if method == "HEAD":
        method = "GET"
    return POLICY.get((method.upper(), path))


def markdown_table() -> str:
    """The route table of docs/security.md, generated from :data:`RULES`."""
    order = {PUBLIC: 0, **{r: i + 1 for i, r in enumerate(ROLES)}}
    lines = ["| least role | method | route | note |", "| --- | --- | --- | --- |"]
    for r in sorted(RULES, key=lambda r: (order[r.role], r.path, r.method)):
        role = "none (public)" if r.role == PUBLIC else f"`{r.role}`"
        lines.append(f"| {role} | {r.method} | `{r.path}` | {r.note} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
