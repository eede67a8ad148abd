"""The command line as a user meets it: ``run_guarded`` (errors print one 错误 line, exit 2)."""

from __future__ import annotations

import pytest

from geo_enforce.cli.common import app, run_guarded


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run ``geo-enforce ARGV`` in-process; (exit code, stdout + stderr)."""
    code = 0
    try:
        run_guarded(app, [str(a) for a in argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err
