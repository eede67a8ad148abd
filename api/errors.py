"""One table from library exception to HTTP status, one JSON error shape.

5xx responses never carry internal text: the exception is logged, the client gets a public
message. Body shape: ``{"error": {"code": "...", "message": "...", "status": N}}``.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo_enforce import errors as e
from geo_enforce.access import policy
from geo_enforce.storage.locking import PreconditionRequired
from geo_enforce.storage.scope import township_error

log = logging.getLogger("geo_enforce.api")

STATUS: dict[type[Exception], int] = {
    e.AuthenticationFailed: 401,
    e.PermissionDenied: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.IllegalTransition: 409,
    PreconditionRequired: 428,
    e.TooLarge: 413,
    e.BadQuery: 400,
    e.CRSError: 422,
    e.ImageryError: 422,
    e.InvalidInput: 422,
    e.ConfigError: 500,
    e.DatabaseUnavailable: 503,
    e.GeoEnforceError: 400,
}


#: JSON schema of every error body (``error_body``).
ERROR_SCHEMA: dict = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}

_DESCRIPTIONS: dict[int, str] = {
    400: "malformed request (e.g. Content-Length) or a library error without a finer status",
    401: "no valid token",
    403: "role too low (see the route-policy table), or a township not among the caller's",
    404: "not found (or retired)",
    409: "conflict: duplicate, illegal transition or stale version (body carries current_version)",
    413: "request body or upload too large",
    422: "invalid input (the message names the field)",
    428: "the write needs the version you read: send If-Match",
    503: "database unavailable; retry (Retry-After)",
}


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` entries for error statuses, all with the one error body schema."""
    return {
        s: {
            "description": _DESCRIPTIONS[s],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for s in statuses
    }


#: OpenAPI description of the error responses (pass as ``responses=`` to a router).
ERROR_RESPONSES: dict[int | str, dict] = error_responses(401, 403, 404, 409, 413, 422, 503)

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def route_error_statuses(route: APIRoute) -> list[int]:
    """The error statuses ``route`` can answer, from what it is: every route 400 (malformed
    request), 422 (guards and validation) and 503 (database); 401/403 unless the route-policy
    table opens it; 404 when it names anything (path, query or body); 409 and 413 for writes
    and bodies; 428 when it takes If-Match (versioned writes)."""
    statuses = {400, 422, 503}
    methods = route.methods or {"GET"}
    if any(policy.required_role(m, route.path) != policy.PUBLIC for m in methods):
        statuses |= {401, 403}
    dependant = route.dependant
    if dependant.path_params or dependant.query_params or route.body_field is not None:
        statuses.add(404)  # a record named in the path, the query or the body may not exist
    if methods & _BODY_METHODS or route.body_field is not None:
        statuses |= {409, 413}
    if any(p.name == "if_match" for p in route.dependant.header_params):
        statuses |= {409, 428}
    return sorted(statuses)


def document_errors(router: APIRouter) -> APIRouter:
    """Add to each route's OpenAPI ``responses`` the error statuses it can answer (declared
    ones are kept), so the schema lists every status a client may see."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            for status, spec in error_responses(*route_error_statuses(route)).items():
                route.responses.setdefault(status, spec)
    return router


def status_for(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(status: int, code: str, message: str, **extra) -> dict:
    return {"error": {"status": status, "code": code, "message": message, **extra}}


def _public(status: int, exc: Exception) -> str:
    return "服务器内部错误 (internal error)" if status >= 500 else str(exc)


def _map_page_navigation(request: Request) -> bool:
    """A browser asking for the map page itself (GET /map, HTML accepted)."""
    return (
        request.method == "GET"
        and request.url.path == "/map"
        and "text/html" in request.headers.get("accept", "")
    )


def _township_refusal(refused: e.GeoEnforceError) -> JSONResponse:
    """The township rules' own message (a record outside every township, or outside the
    caller's townships; ``geo_enforce.storage.scope``), written for the user; never the SQL."""
    status = status_for(refused)
    return JSONResponse(
        error_body(status, type(refused).__name__, _public(status, refused)), status_code=status
    )


def _install_township_refusals(app: FastAPI) -> None:
    @app.exception_handler(ProgrammingError)
    async def _programming(request: Request, exc: ProgrammingError):
        # 42501 from the township trigger or row-level security: 403 with its message
        refused = township_error(exc)
        if refused is not None:
            return _township_refusal(refused)
        log.error("database error on %s: %s", request.url.path, exc)
        return JSONResponse(error_body(500, "InternalError", _public(500, exc)), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.GeoEnforceError)
    async def _lib(request: Request, exc: e.GeoEnforceError):
        status = status_for(exc)
        if status >= 500:
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        anonymous = "authorization" not in request.headers and "ge_token" not in request.cookies
        if (status == 401 or (status == 403 and anonymous)) and _map_page_navigation(request):
            # a browser opening the field map with no (or a stale) token cookie: the sign-in
            # page, which comes back here (never JSON a phone user cannot act on); 403 when the
            # deployment lets anonymous callers read the 公示 views (the demo) but not the map
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/map/login?next={quote(target, safe='')}", status_code=303)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        extra = getattr(exc, "extra", None) or {}
        return JSONResponse(
            error_body(status, type(exc).__name__, _public(status, exc), **extra),
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError):
        log.error("database error on %s: %s", request.url.path, exc)
        return JSONResponse(
            error_body(
                503, "DatabaseUnavailable", "数据库暂时不可用，请稍后重试 (database unavailable)"
            ),
            status_code=503,
            headers={"Retry-After": "2"},
        )

    # A connection dropped mid-request (server restart) surfaces as InterfaceError too.
    app.add_exception_handler(InterfaceError, _db_down)  # type: ignore[arg-type]

    _install_township_refusals(app)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        # unique violation (23505): clashes with a stored record → 409; check, not-null and
        # foreign-key violations: the value itself is not acceptable → 422. Never the SQL.
        log.info("integrity error on %s: %s", request.url.path, exc.orig)
        refused = township_error(exc)
        if refused is not None:
            return _township_refusal(refused)
        if getattr(exc.orig, "pgcode", None) == "23505":
            return JSONResponse(
                error_body(409, "Conflict", "与已有记录重复 (duplicates a stored record)"),
                status_code=409,
            )
        return JSONResponse(
            error_body(422, "InvalidInput", "数据不符合约束 (a value breaks a data rule)"),
            status_code=422,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        # a value the database cannot hold (out-of-range number, bad date): never echo the SQL
        log.info("data error on %s: %s", request.url.path, exc.orig)
        return JSONResponse(
            error_body(422, "InvalidInput", "数值超出范围或格式无效 (value out of range)"),
            status_code=422,
        )

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError):
        return JSONResponse(
            error_body(409, "StaleVersion", "记录已被他人修改，请刷新后重试 (record changed)"),
            status_code=409,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        details = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()
        ]
        return JSONResponse(
            error_body(422, "ValidationError", "请求参数无效 (invalid request)", details=details),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = exc.detail if exc.status_code < 500 else _public(exc.status_code, exc)
        return JSONResponse(
            error_body(exc.status_code, "HTTPError", str(message)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(error_body(500, "InternalError", _public(500, exc)), status_code=500)
