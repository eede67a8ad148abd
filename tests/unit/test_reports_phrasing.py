"""Rounding rules and the report's customary phrasing (no database)."""

from __future__ import annotations

import pytest

from geo_enforce.reports.phrasing import (
    count_text,
    half_up,
    m2_text,
    mu_text,
    round_m2,
    round_mu,
    whole,
)

MU = 2000 / 3  # m² per mu


@pytest.mark.parametrize(
    ("x", "places", "expected"),
    [(0.125, 2, 0.13), (0.135, 2, 0.14), (2.675, 2, 2.68), (-0.125, 2, -0.13), (1.005, 2, 1.01),
     (2.5, 0, 3.0), (3.5, 0, 4.0), (1234.4449, 2, 1234.44)],
)  # fmt: skip
def test_half_up_not_bankers(x, places, expected):
    assert half_up(x, places) == expected


def test_round_m2_and_mu_from_unrounded_m2():
    m2 = 45_987.654321
    assert round_m2(m2) == 45987.65
    assert round_mu(m2) == 68.98  # 68.98148… from the unrounded value
    # 1 mu exactly
    assert round_mu(MU) == 1.0


@pytest.mark.parametrize(
    ("m2", "style", "text"),
    [
        (68.6 * MU, "approx", "约69亩"),
        (68.4 * MU, "approx", "约68亩"),
        (69.3 * MU, "over", "69余亩"),
        (69.0 * MU, "over", "69亩"),
        (69.3 * MU, "approx_over", "约69余亩"),
        (69.3 * MU, "exact", "69.30亩"),
    ],
)
def test_mu_phrasing(m2, style, text):
    assert mu_text(m2, style) == text


def test_mu_phrasing_rejects_unknown_style():
    with pytest.raises(ValueError, match="unknown mu style"):
        mu_text(100.0, "roughly")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0宗"), (7, "7宗"), (10, "10宗"), (20, "20宗"), (23, "20余宗"), (29, "20余宗"),
     (156, "150余宗")],
)  # fmt: skip
def test_count_phrasing(n, text):
    assert count_text(n) == text


def test_whole_square_metres_as_the_report_writes_them():
    assert m2_text(200_215.5) == "200216平方米"
    assert m2_text(168_499.49) == "168499平方米"
    assert whole(10_861.5) == 10862
