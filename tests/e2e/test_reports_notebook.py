"""notebooks/report_author.ipynb runs headless against a test database and writes the files."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from geo_enforce.storage.engine import make_engine, make_sessionmaker
from tests.support import reports_ledger as L

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "report_author.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            for line in cell.source.splitlines():
                if line.startswith(("import ", "from ")):
                    assert line.split()[1].split(".")[0] == "geo_enforce", line


@pytest.mark.slow  # a kernel start and matplotlib import: about 10 s
def test_notebook_runs(db_url, tmp_path, monkeypatch):
    engine = make_engine(db_url)
    L.load(make_sessionmaker(engine), L.build_records())
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", db_url)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "2024年，全镇拆除违法建设" in outputs
    tables = [
        o for c in nb.cells for o in c.get("outputs", []) if "text/plain" in o.get("data", {})
    ]
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) == 2
    assert any("按村" in t["data"]["text/plain"] for t in tables)  # the rich table rendered
    assert (tmp_path / "var" / "reports" / "2024" / "annual-2024.docx").exists()
