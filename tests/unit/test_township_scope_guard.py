"""Every route reaches the database through a session scoped to the caller's townships.

``api.deps`` hands out ``ReadDB``, ``WriteDB``, ``scoped_sessions`` and ``scoped_connection``;
``app.state.sessions`` and ``app.state.engine`` are unscoped (authentication, tests' seeds).
A router using them directly would read every township's rows (row-level security sees no
setting), so none may.
"""

from __future__ import annotations

import re
from pathlib import Path

ROUTERS = Path(__file__).resolve().parents[2] / "api" / "routers"


def test_no_router_opens_an_unscoped_session():
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(ROUTERS.glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"app\.state\.(sessions|engine)\b", line)
    ]
    assert offenders == [], f"routers bypassing the township scope: {offenders}"
