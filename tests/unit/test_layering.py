"""The library's rooms: every module imports on its own (no import cycle), the library never
imports the demo room or FastAPI, and one actor spelling names every writer."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "geo_enforce"


def _modules(base: Path, prefix: str) -> list[str]:
    out = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base).with_suffix("")
        if "migrations" in rel.parts or rel.name == "__main__":
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        out.append(".".join([prefix, *parts]))
    return out


LIBRARY = _modules(PACKAGE, "geo_enforce")


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in ``path`` (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.slow
@pytest.mark.timeout(1200)  # ~190 interpreters: over 300 s when other suites share the cores
def test_each_module_imports_alone_in_a_fresh_interpreter():
    """A module that fails when imported first sits in an import cycle (or needs a side effect).

    Each module is imported first in its own interpreter (about two hundred interpreters, two
    at a time).
    """
    code = (
        "import subprocess, sys\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def one(m):\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True,"
        " text=True)\n"
        "    last = (r.stderr.strip().splitlines() or ['?'])[-1]\n"
        "    return f'{m}: {last}' if r.returncode else ''\n"
        "with ThreadPoolExecutor(2) as pool:\n"
        "    bad = [b for b in pool.map(one, sys.argv[1:]) if b]\n"
        "print('\\n'.join(bad))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, *LIBRARY], capture_output=True, text=True, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"modules that do not import alone:\n{res.stdout}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (module → modules it imports at module level), or None.

    A package importing its own submodules (and they it) is how packages work, not a cycle of
    concern: cycles that pass from a package to one of its submodules are ignored.
    """
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if d.startswith(n + "."):
                continue
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                if not any(b.startswith(a + ".") for a, b in itertools.pairwise(cycle)):
                    return cycle
            elif d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_find_cycle_finds_what_it_should():
    """The checker itself: the farmland cycle issue 11 removed is found, a package is not."""
    assert find_cycle({"f.verify": {"f.photos"}, "f.photos": {"f.verify"}}) == [
        "f.photos",
        "f.verify",
        "f.photos",
    ]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"pkg": {"pkg.mod"}, "pkg.mod": {"pkg"}}) is None
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_library_modules():
    """The module-level import graph of the library has no cycle."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(PACKAGE).with_suffix("")
        name = ".".join(["geo_enforce", *[p for p in rel.parts if p != "__init__"]])
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in tree.body:  # module level only: lazy imports in functions break no cycle
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    deps.add(full if full in LIBRARY else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in LIBRARY and d != name}
    assert set(LIBRARY) <= set(graph)  # the whole library was read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


@pytest.mark.parametrize("forbidden", ["geo_enforce.demo", "fastapi", "api"])
def test_library_does_not_import(forbidden):
    """No library module imports the demo room (only the CLI's demo command, lazily), FastAPI
    or the API package (only the CLI, which serves it)."""
    allowed = {
        "geo_enforce.demo": ("geo_enforce/demo/", "geo_enforce/cli/demo.py"),
        "api": ("geo_enforce/cli/",),
        "fastapi": ("geo_enforce/cli/",),
    }
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(allowed.get(forbidden, ())):
            continue
        hits = [m for m in _imports(path) if m == forbidden or m.startswith(forbidden + ".")]
        if hits:
            offenders.append(f"{rel}: {sorted(hits)[0]}")
    assert offenders == []
