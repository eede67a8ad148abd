"""ORM model of a user's townships (issue 16 item 7): which bureaus' records a user works on.

A current row (``retired_at`` NULL) scopes the user to that township; revoking retires the row
(never deleted), so the audit log keeps who granted and revoked what. See
:mod:`geo_enforce.access.townships` and migration ``0030_township_scope``.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from geo_enforce.storage.models import Base, LedgerMixin


class UserTownship(LedgerMixin, Base):
    """User ``user_id`` works on the records of township ``township_code`` (while current)."""

    __tablename__ = "user_township"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    #: the code of a town ``admin_area`` (乡镇/街道)
    township_code: Mapped[str] = mapped_column(String(40), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(100), nullable=False)
