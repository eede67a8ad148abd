"""The bureau's day is Beijing's, whatever zone the server's clock is set to.

Default effective dates, deadlines and the overdue list use ``sanity.beijing_today``. The test
runs it in a child process whose local zone is chosen so that, right now, the local date and
Beijing's date differ: the naive ``date.today()`` would give the wrong day there.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import zoneinfo

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")


def _zone_on_another_day(now_bj: dt.datetime) -> str:
    # POSIX TZ names: "Etc/GMT+4" is UTC−4, "Etc/GMT-14" is UTC+14
    if now_bj.hour < 11:
        return "Etc/GMT+4"  # 12 h behind Beijing: still yesterday
    if now_bj.hour >= 19:
        return "Etc/GMT-14"  # 6 h ahead: already tomorrow
    return "Etc/GMT+12"  # 20 h behind: yesterday


def test_beijing_today_in_a_server_zone_on_another_day():
    now_bj = dt.datetime.now(BEIJING)
    zone = _zone_on_another_day(now_bj)
    code = (
        "import datetime as dt; from geo_enforce.io.sanity import beijing_today; "
        "print(beijing_today().isoformat(), dt.date.today().isoformat())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TZ": zone},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    expected = dt.datetime.now(BEIJING).date()
    assert out[1] != out[0], "the child's local day must differ for the test to mean anything"
    assert dt.date.fromisoformat(out[0]) in (expected, now_bj.date())  # midnight may pass
