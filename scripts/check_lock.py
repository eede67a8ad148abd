"""Check that the lock files agree with pyproject.toml; exit 1 naming each disagreement.

    python scripts/check_lock.py [ROOT]

For ``requirements.lock`` (runtime + dev extra) and ``requirements-runtime.lock`` (runtime):
every requirement of pyproject.toml is pinned to a version its specifier allows, and the pins
the lock attributes to the project (``# via geo-enforce (pyproject.toml)``) are exactly the
project's requirements, so an added, removed or re-ranged dependency is caught. Run by
scripts/setup.sh before installing and by tests/unit/test_lock.py. Standard library plus
``packaging`` (pip's vendored copy when it is not installed).
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # a fresh venv has pip, which vendors packaging
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]

PROJECT_VIA = "geo-enforce (pyproject.toml)"
LOCKS = {"requirements.lock": ("dev",), "requirements-runtime.lock": ()}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")


@dataclass
class Pin:
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    """Pins of a ``uv pip compile`` / pip-compile lock: name -> version, hashes, via."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line)
        if m:
            current = pins.setdefault(canonicalize_name(m.group(1)), Pin(m.group(2)))
            continue
        stripped = line.strip()
        if current is None:
            continue
        if stripped.startswith("--hash=sha256:"):
            current.hashes += 1
        elif stripped.startswith("#   ") or stripped.startswith("# via "):
            current.via.append(stripped.removeprefix("# via ").removeprefix("#   ").strip())
    return pins


def project_requirements(pyproject: Path, extras: tuple[str, ...]) -> list[Requirement]:
    """The requirements pyproject.toml declares (runtime, plus the named extras)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in extras:
        reqs += [Requirement(r) for r in project.get("optional-dependencies", {})[extra]]
    env = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
    return [r for r in reqs if r.marker is None or r.marker.evaluate(env)]


def problems(root: Path) -> list[str]:
    """Every disagreement between pyproject.toml and the lock files, as sentences."""
    found: list[str] = []
    for lock_name, extras in LOCKS.items():
        lock = root / lock_name
        if not lock.exists():
            found.append(f"{lock_name} is missing")
            continue
        pins = read_lock(lock)
        reqs = project_requirements(root / "pyproject.toml", extras)
        wanted = {canonicalize_name(r.name) for r in reqs}
        for req in reqs:
            pin = pins.get(canonicalize_name(req.name))
            if pin is None:
                found.append(f"{lock_name}: {req} is not locked")
            elif not req.specifier.contains(Version(pin.version), prereleases=True):
                found.append(f"{lock_name}: {req.name}=={pin.version} is outside '{req}'")
        attributed = {name for name, pin in pins.items() if PROJECT_VIA in pin.via}
        for name in sorted(attributed - wanted):
            found.append(
                f"{lock_name}: {name} is locked as a project requirement, but "
                "pyproject.toml no longer asks for it"
            )
        unhashed = sorted(name for name, pin in pins.items() if pin.hashes == 0)
        if unhashed:
            found.append(f"{lock_name}: pins without hashes: {', '.join(unhashed)}")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    found = problems(root)
    if found:
        print("the lock files disagree with pyproject.toml:", file=sys.stderr)
        for p in found:
            print(f"  - {p}", file=sys.stderr)
        print("run scripts/lock.sh and commit pyproject.toml with both lock files", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
