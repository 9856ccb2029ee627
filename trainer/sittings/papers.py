"""Papers drawn ahead of a sitting, so that exam day's starts only store them.

When a sitting opens, everyone on its roster starts within a minute or two. Drawing and rendering
a paper was a third of each start's work (the README's "Exam day"); done ahead, a start in the
sitting takes the paper prepared for the person only if the library, the language and what the
person has seen are unchanged since (trainer.quizzes.service.PaperBasis), else it draws afresh.

`prepare` draws, for one sitting, a paper for every person on its roster who has none that is
still good: in their interface language (the default language if they never chose one), their
unseen questions first, as a start would. It is idempotent: run again, it only redraws what
changed (a person added, a bank edit published, an attempt since). `trainer serve` runs it on a
timer for the sittings opening in the next day (`prepare_upcoming`); `trainer sittings prepare`
runs it now, for one sitting or those ahead. Papers are drawn outside any write and written a
batch at a time, so a write waits at most for one batch; two processes preparing at once both
write good papers, and the last one stays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from trainer.content.library import Library
from trainer.db import Database
from trainer.errors import DomainError
from trainer.people.models import User
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import Attempt, Paper, PreparedPaper
from trainer.sittings.models import Sitting
from trainer.sittings.service import rostered, sat_in

log = logging.getLogger(__name__)

BATCH = 50  # papers written per transaction (about 4 MB of JSON)
HORIZON = timedelta(hours=24)  # `prepare_upcoming`: sittings opening within this


@dataclass
class Prepared:
    """What a run did: papers drawn (new or redrawn), papers already good, people skipped
    (they started in the sitting already), and sittings whose papers cannot be drawn."""

    drawn: int = 0
    kept: int = 0
    skipped: int = 0
    cannot_draw: list[str] = field(default_factory=list)
    refused: str | None = None  # why `prepare` drew nothing for the sitting asked for

    def add(self, other: Prepared) -> None:
        self.drawn += other.drawn
        self.kept += other.kept
        self.skipped += other.skipped
        self.cannot_draw += other.cannot_draw


def _upsert(insert: Any) -> Any:
    """Insert a person's paper, or replace the one they have (every column but the key)."""
    statement = insert(PreparedPaper)
    key = [PreparedPaper.sitting_id, PreparedPaper.user_id]
    columns = PreparedPaper.__table__.columns
    return statement.on_conflict_do_update(
        index_elements=key,
        set_={c.name: statement.excluded[c.name] for c in columns if not c.primary_key},
    )


_UPSERTS = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}
# The papers themselves, their ids in the order given (rows of `papers`, which the prepared rows
# and, once started, the attempts point at).
_INSERT_PAPERS = insert(Paper).returning(Paper.id, sort_by_parameter_order=True)


def prepare(
    database: Database, library: Library, sitting_id: int, now: datetime, *, default_lang: str
) -> Prepared:
    """Draw the papers of one sitting that are missing or no longer good (see the module)."""
    done = Prepared()
    with database.session() as db:
        sitting = db.get(Sitting, sitting_id)
        if sitting is None:
            done.refused = f"no sitting {sitting_id}"
            return done
        if sitting.closed_at is not None or sitting.closes_at <= now:
            done.refused = f"sitting {sitting_id} is over"
            return done
        course = library.courses.get(sitting.course_id)
        if course is None or course.certification is None or course.certification.exam.mode != "sittings":
            done.refused = f"sitting {sitting_id}: course {sitting.course_id} is not examined in sittings"
            return done
        stamp = quizzes.paper_stamp(library, course)
        people = rostered(db, sitting_id)
        came = sat_in(db, sitting_id)
        languages: dict[int, str | None] = {}
        latest: dict[int, int] = {}
        for chunk in _chunks(people):  # a province-wide roster: more people than bound parameters
            languages.update(db.execute(select(User.id, User.language).where(User.id.in_(chunk))).all())
            latest.update(
                db.execute(
                    select(Attempt.user_id, func.max(Attempt.id))
                    .where(Attempt.course_id == course.id, Attempt.user_id.in_(chunk))
                    .group_by(Attempt.user_id)
                ).all()
            )
        have = {
            row.user_id: quizzes.PaperBasis(row.lang, row.stamp, row.seen_through)
            for row in db.execute(
                select(
                    PreparedPaper.user_id, PreparedPaper.lang, PreparedPaper.stamp, PreparedPaper.seen_through
                ).where(PreparedPaper.sitting_id == sitting_id)
            )
        }
        wanted: list[tuple[int, str, int]] = []
        for person in people:
            if person in came:
                done.skipped += 1
                continue
            lang, seen_through = languages.get(person) or default_lang, latest.get(person) or 0
            if have.get(person) == quizzes.PaperBasis(lang, stamp, seen_through):
                done.kept += 1
            else:
                wanted.append((person, lang, seen_through))
        for start in range(0, len(wanted), BATCH):
            rows, papers = [], []
            for person, lang, seen_through in wanted[start : start + BATCH]:
                seen = quizzes.seen_questions(db, person, course.id) if seen_through else set()
                try:
                    drawn = quizzes.draw_exam_paper(library, course, seen, lang)
                except DomainError as error:  # the bank cannot fill the blueprint: a start could not either
                    reason = str(error.extra.get("reason", error.code))
                    done.cannot_draw.append(f"sitting {sitting_id}: {reason}")
                    log.warning("sitting %s: papers cannot be drawn: %s", sitting_id, reason)
                    return done
                rows.append(
                    {
                        "sitting_id": sitting_id,
                        "user_id": person,
                        "lang": lang,
                        "stamp": stamp,
                        "seen_through": seen_through,
                        "seed": drawn.seed,
                        "served": drawn.served,
                        "prepared_at": now,
                    }
                )
                papers.append({"snapshot": drawn.snapshot, "layout": drawn.layout})
            with database.write_connection() as conn:
                # The papers these replace, read in the write (another process may have drawn
                # them since `have`), deleted after unless a start took one.
                replaced = conn.scalars(
                    select(PreparedPaper.paper_id).where(
                        PreparedPaper.sitting_id == sitting_id,
                        PreparedPaper.user_id.in_([row["user_id"] for row in rows]),
                    )
                ).all()
                paper_ids = conn.execute(_INSERT_PAPERS, papers).scalars().all()
                for row, paper_id in zip(rows, paper_ids, strict=True):
                    row["paper_id"] = paper_id
                conn.execute(_UPSERTS[database.engine.dialect.name], rows)
                quizzes.delete_papers_not_held(conn, replaced)
            done.drawn += len(rows)
    return done


def _chunks(items: list[int], size: int = 1000) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def prepare_upcoming(
    database: Database, library: Library, now: datetime, *, default_lang: str, horizon: timedelta = HORIZON
) -> Prepared:
    """`prepare` for every sitting not yet open that opens within `horizon`: a sitting already
    open is left alone (its starts are under way; a paper drawn now would compete with them)."""
    with database.session() as db:
        ahead = list(
            db.scalars(
                select(Sitting.id)
                .where(Sitting.closed_at.is_(None), Sitting.opens_at > now, Sitting.opens_at <= now + horizon)
                .order_by(Sitting.opens_at, Sitting.id)
            )
        )
    done = Prepared()
    for sitting_id in ahead:
        done.add(prepare(database, library, sitting_id, now, default_lang=default_lang))
    return done
