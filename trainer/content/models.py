"""Tables of the content domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime


class CourseVersion(Base):
    """Each distinct version of a course's files that a server has loaded.

    Attempts and certificates point at the version they were taken against, so an auditor can
    tell exactly which text an inspector studied and was examined on, even after later edits.
    """

    __tablename__ = "course_versions"
    __table_args__ = (UniqueConstraint("course_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
