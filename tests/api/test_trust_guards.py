"""Issue 13's API repairs: bodies limited while streaming, control characters refused, versions
required on case writes, security headers, API docs without a CDN.

Streaming tests drive the real app through ``httpx.ASGITransport`` with a generator body (the
TestClient reads a generator fully before calling the app), counting the bytes the app pulled.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from api import create_app
from api.guards import MULTIPART_OVERHEAD, page_csp
from geo_enforce.access import auth
from geo_enforce.settings import AuthSettings, LimitSettings, Settings
from tests.conftest import bearer_headers

MiB = 1 << 20
HUGE = 300 * MiB


class Counter:
    """An endless-looking body: ``total`` bytes in 1 MiB chunks, counting what was pulled."""

    def __init__(self, total: int = HUGE, chunk: int = MiB, head: bytes = b"") -> None:
        self.total, self.chunk, self.sent, self.head = total, chunk, 0, head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = b"x" * self.chunk
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            self.sent += self.chunk
            yield block


def _post(app, path: str, body: Counter, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            return await c.post(path, content=body.__aiter__(), headers=headers)

    return asyncio.run(go())


@pytest.fixture
def small_limit(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "var",
        limits=LimitSettings(max_upload_bytes=MiB),
    )


@pytest.fixture
def users(sessions) -> dict[str, dict[str, str]]:
    names = ("viewer", "liaison", "editor", "admin")
    headers = bearer_headers(sessions, *[(f"g_{r}", r) for r in names])
    return dict(zip(names, headers, strict=True))


# --- body limit while streaming -------------------------------------------------------------


def test_anonymous_chunked_body_is_refused_before_a_byte_is_read(settings):
    app = create_app(settings)
    body = Counter()
    r = _post(app, "/structures", body, {"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    assert body.sent <= MiB  # httpx may pull the first chunk; the app read none of it
    assert r.headers["connection"] == "close"


def test_anonymous_chunked_body_with_an_anonymous_role_is_403(settings):
    anonymous = AuthSettings(anonymous_role=auth.PUBLIC_ROLE)
    app = create_app(settings.model_copy(update={"auth": anonymous}))
    body = Counter()
    r = _post(app, "/verifications", body, {"Content-Type": "application/json"})
    assert r.status_code == 403 and body.sent <= MiB


#: the start of a valid multipart body: one file part whose content never ends
MULTIPART_HEAD = (
    b'--xyz\r\nContent-Disposition: form-data; name="ortho"; filename="o.tif"\r\n'
    b"Content-Type: image/tiff\r\n\r\nII*\x00"
)


@pytest.mark.parametrize(
    ("path", "ctype", "head"),
    [
        ("/users", "application/json", b'{"name": "'),
        ("/flights", "multipart/form-data; boundary=xyz", MULTIPART_HEAD),
    ],
)
def test_authenticated_chunked_body_stops_at_the_limit(small_limit, users, path, ctype, head):
    app = create_app(small_limit)
    limit = MiB + MULTIPART_OVERHEAD
    with TestClient(app):  # runs the lifespan (database engine) for the token check
        body = Counter(chunk=256 * 1024, head=head)
        r = _post(app, path, body, {**users["admin"], "Content-Type": ctype})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "TooLarge"
    assert body.sent <= limit + 2 * body.chunk, f"the app pulled {body.sent} bytes"


def test_declared_length_over_the_limit_is_refused_unread(settings, users):
    app = create_app(settings)
    with TestClient(app) as c:
        r = c.post(
            "/users", content=b"x", headers={**users["admin"], "Content-Length": str(10**12)}
        )
    assert r.status_code == 413 and r.json()["error"]["code"] == "TooLarge"


# --- control characters in bodies -----------------------------------------------------------


def _structure(case_no: str, **extra) -> dict:
    geom = mapping(box(117.21, 39.01, 117.2103, 39.0103))
    return {"case_no": case_no, "category": "wall", "geometry": geom, **extra}


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x0b"])
def test_control_character_in_a_json_field_is_422_naming_it(client, users, char):
    r = client.post(
        "/structures", json=_structure("NUL-1", address=f"东街{char}12号"), headers=users["editor"]
    )
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "body.address" in message and f"U+{ord(char):04X}" in message


def test_control_character_in_a_nested_key_or_list_is_refused(client, users):
    r = client.post(
        "/detection-runs",
        json={"before": "a", "after": "b", "params": {"no\x00te": 1}},
        headers=users["editor"],
    )
    assert r.status_code == 422 and "body.params.no" in r.json()["error"]["message"]
    r = client.post(
        "/parcels/search",
        json={"geometry": {"type": "Polygon", "coordinates": [["\x00"]]}},
        headers=users["liaison"],
    )
    assert r.status_code == 422 and "body.geometry.coordinates.0.0" in r.text


def test_control_character_in_a_form_field_is_refused(client, users):
    r = client.post(
        "/flights",
        headers=users["admin"],
        files={"ortho": ("o.tif", b"II*\x00", "image/tiff")},
        data={"flown_on": "2024-04-01", "name": "bad\x00name"},
    )
    assert r.status_code == 422 and "'name'" in r.json()["error"]["message"]


def test_tab_newline_return_are_text(client, users):
    r = client.post(
        "/structures",
        json=_structure("TXT-1", notes="第一行\n第二行\r\n\t缩进"),
        headers=users["editor"],
    )
    assert r.status_code == 201, r.text


# --- versions on case writes ----------------------------------------------------------------


def _new_case(client, users, case_no: str) -> tuple[int, str]:
    r = client.post("/structures", json=_structure(case_no), headers=users["editor"])
    assert r.status_code == 201, r.text
    return r.json()["id"], r.headers["ETag"]


def test_structure_reads_send_etag(client, users):
    sid, created = _new_case(client, users, "ET-1")
    one = client.get(f"/structures/{sid}", headers=users["viewer"])
    by_case = client.get("/structures/by-case/ET-1", headers=users["viewer"])
    assert one.headers["ETag"] == by_case.headers["ETag"] == created
    assert created == f'"{one.json()["properties"]["version"]}"'


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        ("transitions", "editor", {"to_status": "verified", "reason": "现场核实"}),
        ("retire", "admin", {"reason": "重复登记"}),
    ],
)
def test_transition_and_retire_need_if_match(client, users, path, role, body):
    sid, tag = _new_case(client, users, f"IM-{path}")
    r = client.post(f"/structures/{sid}/{path}", json=body, headers=users[role])
    assert r.status_code == 428, r.text
    assert r.json()["error"]["code"] == "PreconditionRequired"
    assert "If-Match" in r.json()["error"]["message"]
    stale = client.post(
        f"/structures/{sid}/{path}", json=body, headers={**users[role], "If-Match": '"99"'}
    )
    assert stale.status_code == 409 and stale.json()["error"]["current_version"] == 1
    ok = client.post(
        f"/structures/{sid}/{path}", json=body, headers={**users[role], "If-Match": tag}
    )
    assert ok.status_code in (200, 201), ok.text


def test_edit_without_version_is_428(client, users):
    sid, _ = _new_case(client, users, "IM-edit")
    r = client.patch(f"/structures/{sid}", json={"floors": 2}, headers=users["editor"])
    assert r.status_code == 428


def test_two_concurrent_transitions_from_one_version_one_409(client, users):
    sid, tag = _new_case(client, users, "CC-1")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def move(reason: str) -> None:
        barrier.wait()
        r = client.post(
            f"/structures/{sid}/transitions",
            json={"to_status": "verified", "reason": reason},
            headers={**users["editor"], "If-Match": tag},
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=move, args=(f"并发{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409]
    hist = client.get(f"/structures/{sid}/transitions", headers=users["viewer"]).json()
    assert len(hist) == 1


# --- security headers -----------------------------------------------------------------------


def _assert_secure(r: httpx.Response) -> str:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    return csp


def test_every_response_carries_security_headers(client, users):
    for r in (
        client.get("/health"),
        client.get("/public/cases"),
        client.get("/nowhere"),
        client.get("/audit"),
        client.get("/audit", headers=users["editor"]),
        client.get("/public/cases", params={"village_code": "a\x00b"}),
    ):
        assert _assert_secure(r).startswith("default-src 'none'"), r.request.url


def test_map_page_csp_allows_only_self_and_its_own_inline_scripts(client, users):
    r = client.get("/map", headers=users["viewer"])
    assert r.status_code == 200
    csp = _assert_secure(r)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    scripts = directives["script-src"].split()
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert directives["connect-src"] == "'self'" and directives["default-src"] == "'self'"
    # exactly the page's own inline scripts are allowed, by hash
    assert csp == page_csp(r.text)
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)
    assert len([s for s in scripts if s.startswith("'sha256-")]) >= 1 and inline


# --- API docs without a CDN -----------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_only_local_assets(client, page):
    r = client.get(page)
    assert r.status_code == 200
    _assert_secure(r)
    refs = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", r.text)
    assert refs, r.text
    external = [u for u in refs if re.match(r"^(https?:)?//", u)]
    assert not external, f"{page} loads {external}"
    assets = [u for u in refs if u.startswith("/static/")]
    assert assets
    for url in assets:
        a = client.get(url)
        assert a.status_code == 200, f"{url}: run scripts/install_web_assets.sh"
        assert len(a.content) > 500
    assert "cdn" not in r.text.lower()
    csp = r.headers["content-security-policy"]
    assert "http" not in csp  # no other origin allowed
