"""Every notebook in notebooks/ runs headless against a fresh database and is stored clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

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
