"""What is due to be told, and a `trainer notify` run: queue it, then email it.

Sources (each returns `Pending` items; the outbox's key makes each happen once):
- sitting invitations to everyone on an upcoming sitting's roster (with an .ics file), and a
  change notice when the sitting's time, late-entry cutoff or place is no longer what the person
  was last told;
- certificate renewal reminders to holders: when the renewal window opens, 30 days before
  expiry, and in grace;
- a weekly digest to each manager of the holders in their part of the organisation who need
  renewing (trainer.reports.reminders, the list `trainer reminders` prints).
Assignment due-date reminders (30 and 7 days before, overdue) are one more source of this shape
once required qualifications exist (issue 16's other slice): kind `assignment.due`, subject the
assignment, occasion `30_days`, `7_days` or `overdue`; append it to `SOURCES`.

Texts are written when queued, in the recipient's language (the one they last chose while
signed in, else TRAINER_DEFAULT_LANGUAGE) through the gettext catalogue, with times in
TRAINER_TIME_ZONE and the zone named; the outbox keeps exactly what was said.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session as DbSession

from trainer import i18n
from trainer.certification import policy
from trainer.certification import service as certificates
from trainer.certification.models import Certificate
from trainer.config import SUPPORTED_LANGUAGES
from trainer.content.library import Library
from trainer.db import Database
from trainer.i18n import N_, STATE_LABELS
from trainer.localtime import LocalTimes
from trainer.notifications import ical, outbox
from trainer.notifications.mail import Sender
from trainer.notifications.models import Notification
from trainer.notifications.outbox import Pending
from trainer.people.models import User
from trainer.reports import reminders
from trainer.sittings import rules
from trainer.sittings import service as sittings
from trainer.sittings.models import Sitting

INVITATION, CHANGED = "sitting.invitation", "sitting.changed"
RENEWAL, DIGEST = "certificate.renewal", "renewals.digest"
KINDS = (INVITATION, CHANGED, RENEWAL, DIGEST)
REMIND_DAYS_BEFORE = 30


@dataclass(frozen=True)
class Context:
    """What composing needs besides the database: the zone, the default language, the course
    library (titles in each language) and the site's host (for calendar UIDs)."""

    zone: ZoneInfo
    default_language: str
    library: Library | None
    host: str = "trainer.localhost"

    @staticmethod
    def host_of(public_url: str) -> str:
        return urlsplit(public_url).hostname or "trainer.localhost"


class Writer:
    """One recipient language's words and times."""

    def __init__(self, context: Context, lang: str) -> None:
        self.lang = lang if lang in SUPPORTED_LANGUAGES else context.default_language
        self._ = i18n.catalogue(self.lang).gettext
        self.times = LocalTimes(context.zone, self.lang, self._)
        self.library = context.library

    def course(self, course_id: str) -> str:
        course = self.library.courses.get(course_id) if self.library else None
        return course.text_for(self.lang).title if course is not None else course_id


def _writers(context: Context) -> Callable[[str | None], Writer]:
    made: dict[str, Writer] = {}

    def writer(lang: str | None) -> Writer:
        key = lang or context.default_language
        if key not in made:
            made[key] = Writer(context, key)
        return made[key]

    return writer


# -- sittings ---------------------------------------------------------------------------------


def fingerprint(sitting: Sitting) -> str:
    """What a person is told about a sitting: its window, late-entry cutoff and place."""
    place = hashlib.sha256(sitting.place.encode("utf-8")).hexdigest()[:12]
    late = "" if sitting.late_entry_minutes is None else str(sitting.late_entry_minutes)
    return f"{ical.utc_stamp(sitting.opens_at)}-{ical.utc_stamp(sitting.closes_at)}-{late}-{place}"


def _sitting_text(w: Writer, sitting: Sitting, *, changed: bool) -> tuple[str, str]:
    _ = w._
    course = w.course(sitting.course_id)
    when = w.times.when(sitting.opens_at)
    title = (
        _("Exam sitting changed: %(course)s, %(when)s")
        if changed
        else _("Exam sitting: %(course)s, %(when)s")
    ) % {
        "course": course,
        "when": when,
    }
    lines = [
        _("An exam sitting you are on has changed. It now reads:")
        if changed
        else _("You are on the roster of an exam sitting."),
        "",
        _("Course: %(course)s") % {"course": course},
        _("Opens: %(when)s") % {"when": w.times.when(sitting.opens_at)},
        _("Closes: %(when)s") % {"when": w.times.when(sitting.closes_at)},
    ]
    late = rules.late_entry_until(sitting.opens_at, sitting.late_entry_minutes)
    if late is not None:
        lines.append(_("Entry until: %(when)s") % {"when": w.times.when(late)})
    lines.append(_("Place: %(place)s") % {"place": sitting.place})
    if sitting.access_code is not None:
        lines.append(_("The access code is given out at the sitting."))
    lines += ["", _("The attached calendar file puts the sitting in your calendar.")]
    return title, "\n".join(lines) + "\n"


def sitting_notices(db: DbSession, context: Context, now: datetime) -> Iterator[Pending]:
    writer = _writers(context)
    for sitting in sittings.upcoming(db, now):
        people = sittings.rostered(db, sitting.id)
        if not people:
            continue
        said: dict[int, tuple[int, str]] = {}  # person -> (notices so far, the latest's occasion)
        latest = (
            select(Notification.user_id, func.count(), func.max(Notification.id))
            .where(Notification.subject_type == "sitting", Notification.subject_id == sitting.id)
            .group_by(Notification.user_id)
            .subquery()
        )
        for user_id, count, occasion in db.execute(
            select(latest.c.user_id, latest.c[1], Notification.occasion).join(
                Notification, Notification.id == latest.c[2]
            )
        ):
            said[user_id] = (count, occasion)
        now_reads = fingerprint(sitting)
        recipients = db.execute(select(User.id, User.email, User.language).where(User.id.in_(people))).all()
        for user_id, email, language in recipients:
            count, last = said.get(user_id, (0, ""))
            if count and last.split("|", 1)[-1] == now_reads:
                continue  # told this already
            w = writer(language)
            title, body = _sitting_text(w, sitting, changed=bool(count))
            event = ical.Event(
                uid=f"sitting-{sitting.id}-person-{user_id}@{context.host}",
                sequence=count,
                starts_at=sitting.opens_at,
                ends_at=sitting.closes_at,
                summary=w._("Exam: %(course)s") % {"course": w.course(sitting.course_id)},
                location=sitting.place,
                description=body,
                stamp=now,
            )
            yield Pending(
                kind=CHANGED if count else INVITATION,
                user_id=user_id,
                subject_type="sitting",
                subject_id=sitting.id,
                occasion=f"{count + 1}|{now_reads}",
                lang=w.lang,
                title=title,
                body=body,
                email=email,
                attachment_name=f"sitting-{sitting.id}.ics",
                attachment=ical.calendar(event),
            )


# -- certificates -----------------------------------------------------------------------------

RENEWAL_TEXTS = {
    "window": (
        N_("Your certificate %(number)s can be renewed now"),
        N_(
            "Your certificate %(number)s (%(title)s) expires on %(expires)s. Its renewal window is "
            "open: pass the course's final exam again to renew it; the renewed certificate runs on "
            "from this expiry, so renewing early loses nothing."
        ),
    ),
    "30_days": (
        N_("Your certificate %(number)s expires in %(days)s day(s)"),
        N_(
            "Your certificate %(number)s (%(title)s) expires on %(expires)s, in %(days)s day(s). "
            "Pass the course's final exam again to renew it."
        ),
    ),
    "grace": (
        N_("Your certificate %(number)s has expired: renew it now"),
        N_(
            "Your certificate %(number)s (%(title)s) expired on %(expires)s. It can still be "
            "renewed until %(until)s (the grace period): pass the course's final exam again."
        ),
    ),
}


def occasion_of(facts: policy.Facts, now: datetime) -> str | None:
    """Which renewal reminder a certificate is due now, if any: `grace` after expiry, `30_days`
    from 30 days before it, `window` from the window's opening until then."""
    state = policy.state_at(facts, now)
    if state == policy.State.GRACE:
        return "grace"
    if state in (policy.State.VALID, policy.State.DUE) and facts.expires_at - now <= timedelta(
        days=REMIND_DAYS_BEFORE
    ):
        return "30_days"
    if state == policy.State.DUE:
        return "window"
    return None


def renewal_reminders(db: DbSession, context: Context, now: datetime) -> Iterator[Pending]:
    writer = _writers(context)
    rows = db.execute(
        select(Certificate, User.email, User.language)
        .join(User, User.id == Certificate.user_id)
        .where(
            Certificate.is_current.is_(True),
            User.is_active.is_(True),
            Certificate.grace_until > now,
            or_(
                Certificate.renewal_from <= now,
                Certificate.expires_at <= now + timedelta(days=REMIND_DAYS_BEFORE),
            ),
        )
        .order_by(Certificate.id)
    ).all()
    for certificate, email, language in rows:
        facts = certificates.facts(certificate)
        occasion = occasion_of(facts, now)
        if occasion is None:
            continue
        w = writer(language)
        course = context.library.courses.get(certificate.course_id) if context.library else None
        values = {
            "number": certificate.number,
            "title": certificates.shown_title(certificate, course, w.lang),
            "expires": w.times.day(certificate.expires_at, named=True),
            "until": w.times.day(certificate.grace_until, named=True),
            "days": policy.days_left(facts, now),
        }
        title, body = RENEWAL_TEXTS[occasion]
        yield Pending(
            kind=RENEWAL,
            user_id=certificate.user_id,
            subject_type="certificate",
            subject_id=certificate.id,
            occasion=occasion,
            lang=w.lang,
            title=w._(title) % values,
            body=w._(body) % values + "\n",
            email=email,
        )


def week_of(now: datetime, zone: ZoneInfo) -> str:
    year, week, _ = now.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def manager_digests(
    db: DbSession, context: Context, now: datetime, due: list[reminders.Reminder]
) -> Iterator[Pending]:
    writer = _writers(context)
    by_manager: dict[int, list[reminders.Reminder]] = {}
    for reminder in due:
        by_manager.setdefault(reminder.manager_id, []).append(reminder)
    if not by_manager:
        return
    managers = {
        row.id: row
        for row in db.execute(
            select(User.id, User.email, User.language, User.unit_id).where(User.id.in_(list(by_manager)))
        )
    }
    week = week_of(now, context.zone)
    for manager_id, items in by_manager.items():
        manager = managers.get(manager_id)
        if manager is None or manager.unit_id is None:
            continue
        w = writer(manager.language)
        _ = w._
        lines = [
            _("Certificates in your part of the organisation that need renewing (%(date)s):")
            % {"date": w.times.day(now, named=True)},
            "",
        ]
        for r in items:
            lines.append(
                _(
                    "- %(name)s (%(unit)s): %(course)s, certificate %(number)s, %(state)s, "
                    "expires %(expires)s, %(days)s day(s) left"
                )
                % {
                    "name": r.holder_name,
                    "unit": r.unit or "",
                    "course": w.course(r.course_id),
                    "number": r.number,
                    "state": _(STATE_LABELS.get(r.state, r.state)),
                    "expires": w.times.day(r.expires_at, named=True),
                    "days": r.days_left,
                }
            )
        yield Pending(
            kind=DIGEST,
            user_id=manager_id,
            subject_type="unit",
            subject_id=manager.unit_id,
            occasion=week,
            lang=w.lang,
            title=_("Renewals due in your area: %(count)s certificate(s)") % {"count": len(items)},
            body="\n".join(lines) + "\n",
            email=manager.email,
        )


# -- a run ------------------------------------------------------------------------------------


@dataclass
class Run:
    queued: outbox.Counter
    delivery: outbox.Delivery | None  # None: no sender (no SMTP host), or a dry run
    would_send: outbox.Counter  # a dry run: what would be emailed


def run(
    database: Database,
    context: Context,
    now: datetime,
    *,
    sender: Sender | None,
    dry_run: bool = False,
) -> Run:
    """Queue what is due (each once), then email every pending notification (each once)."""
    due_list = reminders.due(database, now)
    with database.write() as db:
        queued, emailable = outbox.Counter(), outbox.Counter()
        for items in (
            sitting_notices(db, context, now),
            renewal_reminders(db, context, now),
            manager_digests(db, context, now, due_list),
        ):
            written, with_email = outbox.queue(db, items, now, dry_run=dry_run)
            for kind, count in written.items():
                queued[kind] += count
            for kind, count in with_email.items():
                emailable[kind] += count
        if dry_run:
            db.rollback()
    if dry_run:
        pending = outbox.pending_count(database, now)
        for kind, count in emailable.items():
            pending[kind] += count
        return Run(queued, None, pending)
    delivery = outbox.deliver(database, sender, now) if sender is not None else None
    return Run(queued, delivery, outbox.Counter())
