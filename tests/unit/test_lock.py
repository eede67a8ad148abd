"""The lock files (exact, hashed versions) agree with pyproject.toml, and a disagreement is
named: scripts/check_lock.py, which scripts/setup.sh runs before installing."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
assert _spec and _spec.loader
check_lock = importlib.util.module_from_spec(_spec)
sys.modules["check_lock"] = check_lock  # dataclasses look their module up
_spec.loader.exec_module(check_lock)


def test_the_lock_files_agree_with_pyproject():
    assert check_lock.problems(ROOT) == [], "run scripts/lock.sh"


def test_every_pin_is_exact_and_hashed():
    for name in check_lock.LOCKS:
        pins = check_lock.read_lock(ROOT / name)
        assert len(pins) > 50
        assert all(pin.hashes >= 1 for pin in pins.values())
    full = check_lock.read_lock(ROOT / "requirements.lock")
    runtime = check_lock.read_lock(ROOT / "requirements-runtime.lock")
    # the runtime lock is a subset with the very same versions, without the dev tools
    assert {n: p.version for n, p in runtime.items()}.items() <= {
        n: p.version for n, p in full.items()
    }.items()
    assert "pytest" in full and "pytest" not in runtime


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", *check_lock.LOCKS):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(root: Path, old: str, new: str) -> None:
    p = root / "pyproject.toml"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


def test_an_added_dependency_is_named(copy):
    _edit(copy, '  "numpy>=2.0,<3",\n', '  "numpy>=2.0,<3",\n  "left-pad-geo>=1.0",\n')
    found = check_lock.problems(copy)
    assert any("left-pad-geo>=1.0 is not locked" in p for p in found)


def test_a_removed_dependency_is_named(copy):
    _edit(copy, '  "openpyxl>=3.1,<4",\n', "")
    assert any(
        "openpyxl is locked as a project requirement" in p for p in check_lock.problems(copy)
    )


def test_a_range_that_excludes_the_locked_version_is_named(copy):
    _edit(copy, '"numpy>=2.0,<3"', '"numpy>=2.0,<2.1"')
    found = check_lock.problems(copy)
    assert any(p.startswith("requirements.lock: numpy==") and "outside" in p for p in found)


def test_the_script_exits_1_with_the_fix(copy):
    _edit(copy, '  "numpy>=2.0,<3",\n', '  "numpy>=2.0,<3",\n  "left-pad-geo>=1.0",\n')
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_lock.py"), str(copy)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "left-pad-geo" in r.stderr and "scripts/lock.sh" in r.stderr
