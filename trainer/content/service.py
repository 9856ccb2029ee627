"""Content-domain operations that touch the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from trainer.content.library import Library
from trainer.content.models import CourseVersion
from trainer.db import Database, utcnow


def record_course_versions(database: Database, library: Library) -> int:
    """Remember every course version being served; returns how many were new.

    Several app processes may start at once, so a version another process inserted first is
    simply found on the retry rather than treated as an error.
    """
    with database.session() as session:
        rows = session.execute(select(CourseVersion.course_id, CourseVersion.content_hash))
        known = {(course_id, content_hash) for course_id, content_hash in rows}
    missing = [
        (c.id, c.content_hash) for c in library.courses.values() if (c.id, c.content_hash) not in known
    ]
    if not missing:
        return 0
    for attempt in (1, 2):
        try:
            with database.write() as session:
                now = utcnow()
                for course_id, content_hash in missing:
                    exists = session.scalar(
                        select(CourseVersion.id).where(
                            CourseVersion.course_id == course_id, CourseVersion.content_hash == content_hash
                        )
                    )
                    if exists is None:
                        session.add(
                            CourseVersion(course_id=course_id, content_hash=content_hash, first_loaded_at=now)
                        )
            break
        except IntegrityError:
            # Another process inserted the same version between our check and our commit;
            # the second attempt finds it.
            if attempt == 2:
                raise
    return len(missing)
