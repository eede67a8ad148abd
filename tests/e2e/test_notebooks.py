"""Every notebook in notebooks/ runs headless against a fresh database and is stored clean."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

#: what each notebook must print once it ran (its results, not only that it finished)
EXPECTED = {
    "flight_pair": [
        r"measured shift \(px\): \[-?\d+\.\d+, -?\d+\.\d+\] planted:",
        r"grid \d+ × \d+ px at",
    ],
    "liaison_monthly": [
        r"核查月份 \d{4}-\d{2}",
        r"\d+ verification records",
        r"图斑 \S+ [\d,]+\.\d{2} 平方米 / \d+\.\d{4} 亩",
        r"sheet: .*\.pdf",
    ],
    "report_author": [r"\d{4}年: \d+处, [\d.]+ m² = [\d.]+ 亩"],
}
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, db_url, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    for pattern in EXPECTED[path.stem]:
        assert re.search(pattern, printed), f"{path.name}: no output matching {pattern!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                if line.startswith(("import ", "from ")):
                    top = line.split()[1].split(".")[0]
                    assert top in {
                        "geo_enforce",
                        "pathlib",
                        "datetime",
                        "json",
                        "os",
                        "matplotlib",
                        "IPython",
                    }, f"{path.name} imports {top}"
