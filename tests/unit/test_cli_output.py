"""CLI output does not depend on the terminal width when it is not a terminal (issue 17)."""

from __future__ import annotations

import io

from rich.panel import Panel
from rich.table import Table

from geo_enforce.cli.common import CliConsole

CELLS = ("120111100201-00015", "水浇地（0102）", "28,341.27", "42.512 亩")


def _table() -> Table:
    table = Table("图斑编号", "地类", "面积(m²)", "面积(亩)")
    table.add_row(*CELLS)
    return table


def test_piped_table_is_whole_whatever_columns_says(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    buf = io.StringIO()
    CliConsole(file=buf, soft_wrap=True).print(_table())
    text = buf.getvalue()
    assert all(cell in text for cell in CELLS), text
    assert "…" not in text


def test_terminal_table_still_fits_the_window(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    buf = io.StringIO()
    CliConsole(file=buf, force_terminal=True, color_system=None, width=40).print(_table())
    assert max(len(line) for line in buf.getvalue().splitlines()) <= 40


def test_long_message_is_one_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    buf = io.StringIO()
    message = "错误 " + "/tmp/" + "x" * 200 + "/photo.png: no georeference (CRS missing)"
    CliConsole(file=buf, soft_wrap=True).print(message, markup=False)
    assert buf.getvalue() == message + "\n"


def test_piped_panel_keeps_every_line_whole(monkeypatch):
    """The demo's closing panel: URLs and tokens longer than the width are not cropped."""
    monkeypatch.setenv("COLUMNS", "40")
    lines = [
        "Campaigns:      http://127.0.0.1:8000/campaigns  (chart: "
        "http://127.0.0.1:8000/campaigns/progress.png)",
        "Admin token:    ge_" + "A" * 43,
    ]
    buf = io.StringIO()
    CliConsole(file=buf, soft_wrap=True).print(Panel.fit("\n".join(lines), title="demo"))
    text = buf.getvalue()
    assert all(line in text for line in lines), text
    buf = io.StringIO()  # on a terminal it still fits the window
    CliConsole(file=buf, force_terminal=True, color_system=None, width=40).print(
        Panel.fit("\n".join(lines))
    )
    assert max(len(line) for line in buf.getvalue().splitlines()) <= 40
