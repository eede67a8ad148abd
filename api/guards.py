"""Request guards shared by every endpoint: body size, credentials before bodies, NUL and control
characters, security headers.

Installed once by ``create_app`` (:func:`install_guards`):

- :class:`RequestGuard` (pure ASGI middleware, outermost of the app's own layers)
  - refuses a NUL byte in the path or query (422);
  - refuses a declared ``Content-Length`` over the limit (413) without reading anything;
  - refuses a request body sent without credentials to a method no anonymous caller may use
    (401, or 403 with an anonymous role) before a byte of it is read;
  - counts the body bytes as the application receives them and stops at the limit with 413,
    so a chunked body without ``Content-Length`` is never read beyond the limit;
  - adds ``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options`` and a
    ``Content-Security-Policy`` (``default-src 'none'`` unless a page sets its own with
    :func:`page_csp`) to every response.
- :func:`refuse_control_characters` (an app-wide dependency): a NUL or other C0 control
  character (except tab, newline, carriage return) in any string of a JSON body (keys
  included) or of a form field is refused with 422 naming the field.

Upload handlers read and check their files with ``geo_enforce.io.uploads`` (``read_limited``
within the byte limit, then ``check_content``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from geo_enforce.access import policy
from geo_enforce.access.auth import ROLE_RANK
from geo_enforce.errors import InvalidInput
from geo_enforce.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: room for multipart boundaries and form fields around the largest allowed file
MULTIPART_OVERHEAD = 1 << 20

#: Every response carries these (a handler may set its own Content-Security-Policy).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
#: The CSP of every response that is not a page: load nothing, never be framed.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

#: C0 control characters PostgreSQL text or a ledger field should never hold (\t \n \r allowed)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def _error(status: int, code: str, message: str) -> bytes:
    return json.dumps(
        {"error": {"status": status, "code": code, "message": message}}, ensure_ascii=False
    ).encode()


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the limit; answered with 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"请求体过大 (the request body is over the limit of {limit} bytes)")


def page_csp(html: str, *, img_src: Iterable[str] = (), blob_workers: bool = False) -> str:
    """A Content-Security-Policy for an HTML page served by the API: scripts from this origin
    and exactly the page's own inline scripts (by SHA-256), styles from this origin and inline
    (Leaflet and folium position elements with style attributes), images from this origin,
    ``data:``/``blob:`` and ``img_src``; fetches only to this origin; never framed."""
    hashes = sorted(
        {
            "'sha256-"
            + base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
            + "'"
            for m in _INLINE_SCRIPT.finditer(html)
        }
    )
    directives = [
        "default-src 'self'",
        "script-src " + " ".join(["'self'", *hashes]),
        "style-src 'self' 'unsafe-inline'",
        "img-src " + " ".join(["'self'", "data:", "blob:", *img_src]),
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if blob_workers:
        directives.append("worker-src 'self' blob:")
    return "; ".join(directives)


@functools.cache
def _anonymous_methods(anonymous_role: str | None) -> frozenset[str]:
    """Methods some route lets a caller without a token use (public, or the anonymous role)."""
    allowed = set()
    for rule in policy.RULES:
        if rule.role == policy.PUBLIC or (
            anonymous_role is not None and ROLE_RANK[anonymous_role] >= ROLE_RANK[rule.role]
        ):
            allowed.add(rule.method)
    if "GET" in allowed:
        allowed.add("HEAD")
    return frozenset(allowed)


def _has_credentials(headers: dict[bytes, bytes], method: str) -> bool:
    """Mirrors ``api.deps._token``: a Bearer header, or the cookie for reads."""
    if headers.get(b"authorization", b"").lower().startswith(b"bearer "):
        return True
    return method in ("GET", "HEAD") and b"ge_token=" in headers.get(b"cookie", b"")


def body_limit(settings: Settings) -> int:
    """The most bytes a request body may carry: the upload limit plus multipart overhead."""
    return settings.limits.max_upload_bytes + MULTIPART_OVERHEAD


class RequestGuard:
    """Pure ASGI middleware: URL, body size and credentials checks, security headers.

    The limits and the anonymous role are read per request from the app's settings
    (``app.state.settings``), so they follow the settings the app is serving with.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                extra = [h for h in SECURITY_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", DEFAULT_CSP.encode()))
                message["headers"] = headers + extra
            await send(message)

        limit = body_limit(settings)
        refusal = self._refusal(scope, limit, settings.auth.anonymous_role)
        if refusal is not None:
            await self._reply(send_with_headers, *refusal)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge as exc:  # raised where no handler turned it into a response
            if started:
                raise
            await self._reply(send_with_headers, 413, "TooLarge", str(exc.detail))

    @staticmethod
    def _refusal(
        scope: Scope, limit: int, anonymous_role: str | None
    ) -> tuple[int, str, str, dict[str, str]] | None:
        """Refuse from the request line and headers alone, before any body is read."""
        path = scope.get("path", "")
        raw = (scope.get("raw_path") or path.encode(), scope.get("query_string", b""))
        if "\x00" in path or any(b"\x00" in v or b"%00" in v.lower() for v in raw):
            return 422, "InvalidInput", "请求含有空字符 (NUL byte in the URL)", {}
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length")
        length = 0
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return 400, "InvalidInput", "Content-Length is not a number", {}
            if length > limit:
                return (
                    413,
                    "TooLarge",
                    f"请求体过大 (body of {length} bytes is over the limit of {limit} bytes)",
                    {},
                )
        has_body = length > 0 or b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        method = scope.get("method", "GET")
        if (
            has_body
            and method not in _anonymous_methods(anonymous_role)
            and not _has_credentials(headers, method)
        ):
            if anonymous_role is None:
                return (
                    401,
                    "AuthenticationFailed",
                    "this endpoint needs a token: 'Authorization: Bearer …' (the body was not "
                    "read)",
                    {"WWW-Authenticate": "Bearer"},
                )
            return (
                403,
                "PermissionDenied",
                "匿名用户只读 (anonymous users cannot write; send a token)",
                {},
            )
        return None

    @staticmethod
    async def _reply(
        send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        body = _error(status, code, message)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # the body may be unread: the connection cannot carry another request
            (b"connection", b"close"),
        ]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def _strings(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string in a decoded JSON value (dict keys included) with its location."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*loc, str(key)), str(key)
            yield from _strings(item, (*loc, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*loc, i))


def check_text(value: Any, root: str = "body") -> None:
    """Refuse NUL and other C0 control characters (except \\t \\n \\r) anywhere in ``value``
    with :class:`InvalidInput` naming the field (``body.address``, ``body.params.note``…)."""
    for loc, text in _strings(value, (root,)):
        m = _CONTROL.search(text)
        if m is not None:
            field = ".".join(str(p) for p in loc)
            raise InvalidInput(
                f"字段 {field} 含有控制字符 (field '{field}' contains the control character "
                f"U+{ord(m.group()):04X}; remove it)"
            )


async def refuse_control_characters(request: Request) -> None:
    """App-wide dependency: check the JSON body or form fields the route already parsed.

    Runs after FastAPI has read the body (it reads before resolving dependencies), so it never
    reads a body a route would not; for a route without a body it does nothing.
    """
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None:
        return
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()  # parsed and cached by FastAPI already
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                check_text(value.filename or "", f"{name}.filename")
            else:
                check_text(value, name)
        return
    body = await request.body()  # cached
    if not body:
        return
    try:
        decoded = json.loads(body)
    except ValueError:
        return  # FastAPI already answered malformed JSON with 422; other bodies are not text
    check_text(decoded)


def install_guards(app: FastAPI) -> None:
    """Add the request guard (limits from ``app.state.settings``) and its 413 handler."""

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(
            {"error": {"status": 413, "code": "TooLarge", "message": exc.detail}},
            status_code=413,
            headers={"Connection": "close"},
        )

    app.add_middleware(RequestGuard)  # type: ignore[arg-type]
