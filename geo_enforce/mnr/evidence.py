"""举证 evidence of a ministry patch: JPEG photos, PDF documents and the approval number.

An upload is checked completely before anything is written, by the same gate as verification
photos (:mod:`geo_enforce.io.uploads`: size limit, kind from the bytes, declared type; photos
decoded with their pixel limit by :mod:`geo_enforce.farmland.photos`). The file is stored under
``data_dir/mnr_evidence`` with a generated name and its SHA-256, and removed again if the
transaction rolls back, so a refused or failed upload leaves neither a row nor a file.

Evidence is append-only (the table refuses UPDATE and DELETE); every insert is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound, TooLarge
from geo_enforce.farmland import photos
from geo_enforce.geometry import crs as gcrs
from geo_enforce.io import sanity, uploads
from geo_enforce.mnr.ruling import find_patch
from geo_enforce.settings import Settings
from geo_enforce.storage.mnr import MnrEvidence

SUBDIR = "mnr_evidence"
KINDS: dict[str, str] = {"photo": "照片", "document": "文件", "approval": "批准文号"}
#: what each kind accepts, by the file's content
ALLOWED = {"photo": frozenset({"jpeg"}), "document": uploads.DOCUMENT_KINDS}


@dataclass
class EvidenceResult:
    """A stored piece of evidence and the warnings (Chinese text) the liaison should see."""

    evidence: MnrEvidence
    warnings: list[str] = field(default_factory=list)


def _check_file(
    kind: str, data: bytes, settings: Settings, filename: str | None, content_type: str | None
) -> tuple[uploads.CheckedUpload, dict, list[str]]:
    label = f"{KINDS[kind]} '{filename}'" if filename else KINDS[kind]
    limit = settings.limits.max_upload_bytes
    if len(data) > limit:
        raise TooLarge(f"{label} is {len(data):,} bytes, over the limit of {limit:,} bytes")
    checked = uploads.check_content(
        data, allowed=ALLOWED[kind], declared_type=content_type, original_name=filename, what=kind
    )
    extra: dict = {}
    warnings: list[str] = []
    if kind == "photo":
        img = photos.open_image(
            data, checked.original_name or "upload", settings.limits.max_upload_pixels
        )
        info = photos.read_exif(img)
        if info.has_position and gcrs.in_china(float(info.lon), float(info.lat)):  # type: ignore[arg-type]
            extra["location"] = from_shape(Point(info.lon, info.lat), srid=4490)
        else:
            warnings.append("照片无有效 GPS 位置 (no GPS position in EXIF)")
        if info.taken_at is not None and sanity.is_plausible(info.taken_at):
            extra["taken_at"] = info.taken_at
        else:
            warnings.append("照片无有效拍摄时间 (no plausible capture time in EXIF)")
    elif b"%%EOF" not in data[-2048:]:
        raise InvalidInput(f"{label} is a truncated PDF (no %%EOF at its end); upload it again")
    return checked, extra, warnings


def add_evidence(
    session: Session,
    settings: Settings,
    patch_no: str,
    kind: str,
    *,
    actor: str,
    data: bytes | None = None,
    filename: str | None = None,
    content_type: str | None = None,
    approval_no: str | None = None,
    note: str | None = None,
) -> EvidenceResult:
    """File one piece of 举证 for ministry patch ``patch_no``.

    ``photo``: a JPEG (EXIF position and time kept when present); ``document``: a PDF, with an
    optional ``approval_no``; ``approval``: the approval number (批准文号), optionally with the
    approval as a PDF. Raises TooLarge over ``limits.max_upload_bytes``/pixels and
    InvalidInput for a file of the wrong kind; nothing is stored then.
    """
    if kind not in KINDS:
        raise InvalidInput(
            f"evidence kind {str(kind)[:30]!r} is unknown; use one of "
            + ", ".join(f"{k} ({v})" for k, v in KINDS.items())
        )
    patch, _ = find_patch(session, patch_no)
    approval = (approval_no or "").strip() or None
    if approval is not None and len(approval) > 100:
        raise InvalidInput("approval number (批准文号) is longer than 100 characters")
    if kind == "approval" and approval is None:
        raise InvalidInput("evidence of kind approval needs the approval number (批准文号)")
    if kind == "photo" and approval is not None:
        raise InvalidInput("a photo carries no approval number; file it as kind approval")
    if kind in ("photo", "document") and not data:
        raise InvalidInput(f"evidence of kind {kind} needs a file")
    row = MnrEvidence(
        change_patch_id=patch.id,
        kind=kind,
        approval_no=approval,
        note=(note or "").strip() or None,
        submitted_by=actor,
    )
    warnings: list[str] = []
    path: Path | None = None
    if data:
        file_kind = "document" if kind == "approval" else kind
        checked, extra, warnings = _check_file(file_kind, data, settings, filename, content_type)
        name = uploads.store_bytes(Path(settings.data_dir), SUBDIR, checked)
        path = uploads.stored_path(Path(settings.data_dir), SUBDIR, name)
        row.stored_name, row.original_name = name, checked.original_name
        row.content_type, row.size_bytes, row.sha256 = (
            checked.content_type,
            checked.size_bytes,
            checked.sha256,
        )
        for k, v in extra.items():
            setattr(row, k, v)
    try:
        session.add(row)
        session.flush()
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    if path is not None:
        uploads.remove_on_rollback(session, path)
    return EvidenceResult(evidence=row, warnings=warnings)


def list_evidence(session: Session, patch_id: int) -> list[MnrEvidence]:
    """The evidence of a patch, oldest first."""
    return list(
        session.scalars(
            select(MnrEvidence)
            .where(MnrEvidence.change_patch_id == patch_id)
            .order_by(MnrEvidence.id)
        )
    )


def get_evidence(session: Session, patch_no: str, evidence_id: int) -> MnrEvidence:
    """Evidence ``evidence_id`` of ministry patch ``patch_no``; NotFound otherwise."""
    patch, _ = find_patch(session, patch_no)
    ev = session.get(MnrEvidence, evidence_id) if 0 < evidence_id < 2**63 else None
    if ev is None or ev.change_patch_id != patch.id:
        raise NotFound(f"evidence {evidence_id} of ministry patch {patch_no} does not exist")
    return ev


def evidence_path(settings: Settings, ev: MnrEvidence) -> Path:
    """Where an evidence file lives: ``data_dir/mnr_evidence/<generated name>``."""
    if not ev.stored_name:
        raise NotFound(f"evidence {ev.id} has no file (an approval number alone)")
    return uploads.stored_path(Path(settings.data_dir), SUBDIR, ev.stored_name)
