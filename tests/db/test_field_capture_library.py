"""Field capture through the library: a concurrent retry waits for the first and replays it,
photos far from the case are flagged, files are judged by their bytes."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from shapely.geometry import box
from sqlalchemy import func, select, text

from geo_enforce.errors import InvalidInput
from geo_enforce.field import capture, media
from geo_enforce.ledger.edits import create_structure
from geo_enforce.settings import LimitSettings
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.field_models import CaptureFile, CaptureKey, PatrolRecord
from tests.db.test_farmland_photos import make_jpeg
from tests.support.geometries import X0, Y0

LIMITS = LimitSettings()
KEY = "sync-key-0001"


def _photo(lon: float | None = X0, lat: float | None = Y0) -> media.CheckedMedia:
    data = make_jpeg(lon, lat)
    return media.check_media(data, filename="p.jpg", content_type="image/jpeg", limits=LIMITS)


def _patrol() -> capture.PatrolIn:
    return capture.PatrolIn(
        observed_at=dt.datetime(2025, 6, 1, 10, 0),
        category="no_issue",
        device=capture.Device(lon=X0, lat=Y0),
    )


def test_a_concurrent_retry_waits_and_replays(sessions, settings):
    """The second request with the key blocks on the key's lock until the first commits, then
    gives back the first's record: one record, one file, one key."""
    files = [_photo()]
    results: list[capture.CaptureResult] = []
    errors: list[BaseException] = []

    def retry() -> None:
        try:
            with transaction(sessions, "api:i1") as s:
                results.append(
                    capture.create_patrol(s, settings, _patrol(), files, key=KEY, actor="api:i1")
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    with transaction(sessions, "api:i1") as s:
        first = capture.create_patrol(s, settings, _patrol(), files, key=KEY, actor="api:i1")
        t = threading.Thread(target=retry)
        t.start()
        _wait_until_blocked(sessions)  # the retry now waits at the key's lock
    t.join(timeout=120)
    assert not t.is_alive() and not errors
    (second,) = results
    assert second.replayed and second.record_id == first.record_id and not first.replayed
    with sessions() as s:
        for model in (PatrolRecord, CaptureFile, CaptureKey):
            assert s.scalar(select(func.count()).select_from(model)) == 1


def _wait_until_blocked(sessions) -> None:
    """Return once another session waits for an advisory lock (polled, bounded)."""
    for _ in range(600):
        with sessions() as s:
            waiting = s.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND NOT l.granted "
                    "AND d.datname = current_database()"
                )
            )
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the retry never reached the key's lock")


def test_photos_far_from_the_case_are_flagged(sessions, settings):
    with transaction(sessions, "test:seed") as s:
        st = create_structure(
            s, case_no="JX-1", geometry=box(X0, Y0, X0 + 0.0005, Y0 + 0.0004), category="wall"
        )
    ev = capture.EvidenceIn(stage="inspection", observed_at=dt.datetime(2025, 6, 1, 9))
    with transaction(sessions, "api:i1") as s:
        near = capture.add_evidence(
            s, settings, st.id, ev, [_photo(X0 + 0.0001, Y0 + 0.0001)], key="near-0001",
            actor="api:i1",
        )  # fmt: skip
        far = capture.add_evidence(
            s, settings, st.id, ev, [_photo(X0 + 0.02, Y0)], key="far-00001", actor="api:i1"
        )
    assert not any("距案件" in w for w in near.warnings)
    (warning,) = [w for w in far.warnings if "距案件" in w]
    assert "JX-1" in warning and "超过 100 米" in warning


@pytest.mark.parametrize(
    ("data", "ctype", "kind", "media_kind"),
    [
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00\x00\x00\x08moov",
         "video/quicktime", "mov", "video"),
        (b"%PDF-1.4\n%%EOF\n", "application/octet-stream", "pdf", "document"),
    ],
)  # fmt: skip
def test_kinds_come_from_the_bytes(data, ctype, kind, media_kind):
    m = media.check_media(data, filename="x.bin", content_type=ctype, limits=LIMITS)
    assert (m.upload.kind, m.media) == (kind, media_kind)


def test_a_declared_type_contradicting_the_bytes_is_refused():
    with pytest.raises(InvalidInput, match="声明的类型与内容不符"):
        media.check_media(
            make_jpeg(X0, Y0), filename="a.pdf", content_type="application/pdf", limits=LIMITS
        )
