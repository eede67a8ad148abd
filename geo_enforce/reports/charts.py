"""Report charts as PNG (matplotlib, Agg): area by village and month by month.

Chinese labels need a CJK font. Debian's ``fonts-noto-cjk`` (installed by scripts/setup.sh)
provides Noto Sans CJK; :func:`cjk_font` finds it in matplotlib's font list, registers it from
the usual paths when matplotlib's font cache predates the install, and otherwise raises a
ConfigError saying what to install.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from geo_enforce.errors import ConfigError
from geo_enforce.reports.phrasing import whole

_PREFERRED = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """Family name of a CJK-capable font known to matplotlib (Noto Sans CJK SC preferred)."""
    from matplotlib import font_manager

    def known() -> set[str]:
        return {f.name for f in font_manager.fontManager.ttflist}

    names = known()
    for name in _PREFERRED:
        if name in names:
            return name
    for path in _FONT_FILES:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
    names = known()
    for name in (*_PREFERRED, "Noto Sans CJK JP"):
        if name in names:
            return name
    raise ConfigError(
        "no CJK font for chart labels: install the Debian package fonts-noto-cjk "
        "(scripts/setup.sh does) and run again"
    )


class Png(bytes):
    """PNG bytes that notebooks display inline (``_repr_png_``) without importing IPython."""

    def _repr_png_(self) -> bytes:
        return bytes(self)

    def __repr__(self) -> str:
        return f"<PNG chart, {len(self)} bytes>"


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    font = cjk_font()
    fig = Figure(figsize=(width, height), dpi=150)
    return fig, font


def _png(fig) -> Png:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return Png(buf.getvalue())


def bar_by_village(series: list[tuple[str, float]], *, title: str) -> Png:
    """Horizontal bars of area (m²) by village, largest at the top, labelled in whole m²
    as the prose writes them; PNG bytes."""
    fig, font = _figure(7.0, max(2.5, 0.38 * len(series) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    data = sorted(series, key=lambda x: x[1])
    labels = [name for name, _ in data] or ["(无)"]
    values = [v for _, v in data] or [0.0]
    bars = ax.barh(labels, values, color="#c0392b")
    ax.bar_label(bars, labels=[str(whole(v)) for v in values], padding=3, fontsize=8, family=font)
    ax.set_xlabel("面积（平方米）", family=font)
    ax.set_title(title, family=font)
    for tick in ax.get_yticklabels():
        tick.set_family(font)
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def bar_by_month(series: list[tuple[str, float]], *, title: str) -> Png:
    """Bars of area (m²) month by month ("YYYY-MM" keys shown as 1月…12月); PNG bytes."""
    fig, font = _figure(7.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    labels = [f"{int(m[-2:])}月" for m, _ in series]
    values = [v for _, v in series]
    bars = ax.bar(labels, values, color="#2c7fb8")
    ax.bar_label(bars, labels=[str(whole(v)) if v else "" for v in values], padding=2, fontsize=7)
    ax.set_ylabel("面积（平方米）", family=font)
    ax.set_title(title, family=font)
    for tick in ax.get_xticklabels():
        tick.set_family(font)
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def bar_campaign_progress(items: list[tuple[str, float, str]], *, title: str) -> Png:
    """Horizontal bars of campaign progress: (name, share of the target with 1.0 = met, label
    such as "10862/15000平方米"), one bar per campaign, a line at 100 %; PNG bytes."""
    fig, font = _figure(7.0, max(2.5, 0.5 * len(items) + 1.3))
    ax = fig.add_subplot(1, 1, 1)
    data = list(reversed(items)) or [("(无)", 0.0, "")]
    names = [name for name, _, _ in data]
    shares = [100.0 * share for _, share, _ in data]
    colors = ["#27ae60" if s >= 100.0 else "#e67e22" for s in shares]
    bars = ax.barh(names, [min(s, 120.0) for s in shares], color=colors)
    ax.bar_label(
        bars,
        labels=[
            f"{whole(s)}%  {text}" if text else ""
            for s, (_, _, text) in zip(shares, data, strict=True)
        ],
        padding=3,
        fontsize=8,
        family=font,
    )
    ax.axvline(100.0, color="#555555", linewidth=1, linestyle="--")
    ax.set_xlim(0, 160)
    ax.set_xlabel("完成率（%，按目标）", family=font)
    ax.set_title(title, family=font)
    for tick in ax.get_yticklabels():
        tick.set_family(font)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
