"""Request guards shared by every endpoint: body size limit and NUL bytes.

Installed once by ``create_app`` (:func:`install_guards`). Upload handlers read and check their
files with ``geo_enforce.io.uploads`` (``read_limited`` within the byte limit, then
``check_content``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

from geo_enforce.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: room for multipart boundaries and form fields around the largest allowed file
MULTIPART_OVERHEAD = 1 << 20


def _error(status: int, code: str, message: str) -> bytes:
    return json.dumps(
        {"error": {"status": status, "code": code, "message": message}}, ensure_ascii=False
    ).encode()


class RequestGuard:
    """Pure ASGI middleware: refuse oversized bodies (413) and NUL bytes in the URL (422).

    PostgreSQL text cannot hold NUL, so a NUL in a path or query value would otherwise fail
    deep in the driver; it is refused here with the one JSON error shape.
    """

    def __init__(self, app: Callable, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        raw = (scope.get("raw_path") or path.encode(), scope.get("query_string", b""))
        if "\x00" in path or any(b"\x00" in v or b"%00" in v.lower() for v in raw):
            await self._reply(send, 422, "InvalidInput", "请求含有空字符 (NUL byte in the URL)")
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await self._reply(send, 400, "InvalidInput", "Content-Length is not a number")
                    return
                if length > self.max_body_bytes:
                    await self._reply(
                        send,
                        413,
                        "TooLarge",
                        f"请求体过大 (body of {length} bytes is over the limit of "
                        f"{self.max_body_bytes} bytes)",
                    )
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _reply(send: Send, status: int, code: str, message: str) -> None:
        body = _error(status, code, message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install_guards(app: FastAPI, settings: Settings) -> None:
    """Add the request guard with the body limit from ``settings.limits``."""
    app.add_middleware(
        RequestGuard,  # type: ignore[arg-type]
        max_body_bytes=settings.limits.max_upload_bytes + MULTIPART_OVERHEAD,
    )
