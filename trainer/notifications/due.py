"""What is due to be told, and a `trainer notify` run: queue it, then email it.

Sources (each returns `Pending` items; the outbox's key makes each happen once):
- sitting invitations to everyone on an upcoming sitting's roster (with an .ics file), a
  change notice when the sitting's time, late-entry cutoff or place is no longer what the person
  was last told, and a withdrawal (the .ics cancelling the event) to each person told about a
  sitting who is no longer expected there: taken off its roster (or deactivated) before it,
  or the sitting closed before it opened;
- certificate renewal reminders to holders: when the renewal window opens, 30 days before
  expiry, and in grace;
- required-qualification reminders (trainer.assignments) to each person required a course who
  holds no valid certificate for it: 30 days before the due date, 7 days before, and once
  overdue (the day after it, in TRAINER_TIME_ZONE), against the earliest due date covering them;
- a weekly digest to each manager of the people in their part of the organisation who need
  action: holders who need renewing (trainer.reports.reminders, the list `trainer reminders`
  prints) and people past the due date of a required certificate.

Texts are written when queued, in the recipient's language (the one they last chose while
signed in, else TRAINER_DEFAULT_LANGUAGE) through the gettext catalogue, with times in
TRAINER_TIME_ZONE and the zone named; the outbox keeps exactly what was said.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session as DbSession

from trainer import i18n, localtime
from trainer.assignments import rules as required
from trainer.certification import policy
from trainer.certification import service as certificates
from trainer.certification.models import FACT_COLUMNS, Certificate
from trainer.config import SUPPORTED_LANGUAGES
from trainer.content.library import Library
from trainer.db import Database
from trainer.i18n import N_, STATE_LABELS
from trainer.localtime import LocalTimes
from trainer.notifications import ical, outbox
from trainer.notifications.mail import Sender
from trainer.notifications.models import Notification
from trainer.notifications.outbox import Pending
from trainer.people.models import Unit, User, UserRole
from trainer.reports import compliance, reminders
from trainer.sittings import rules
from trainer.sittings import service as sittings
from trainer.sittings.models import Sitting

INVITATION, CHANGED, WITHDRAWN = "sitting.invitation", "sitting.changed", "sitting.withdrawn"
RENEWAL, DIGEST = "certificate.renewal", "renewals.digest"
ASSIGNMENT_DUE = "assignment.due"
KINDS = (INVITATION, CHANGED, WITHDRAWN, RENEWAL, ASSIGNMENT_DUE, DIGEST)
OFF = "off"  # a withdrawal's occasion after its number: "3|off"
REMIND_DAYS_BEFORE = 30
DUE_SOON_DAYS = 7  # the second reminder before a required certificate's due date
DIGEST_LISTED = 50  # people listed per part of a digest; the rest are counted
_CHUNK = 500  # ids per IN (...) list


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


def _said_about(db: DbSession, sitting_id: int) -> dict[int, tuple[int, str]]:
    """Person -> (notices about the sitting so far, the latest's occasion)."""
    latest = (
        select(Notification.user_id, func.count(), func.max(Notification.id))
        .where(Notification.subject_type == "sitting", Notification.subject_id == sitting_id)
        .group_by(Notification.user_id)
        .subquery()
    )
    return {
        user_id: (count, occasion)
        for user_id, count, occasion in db.execute(
            select(latest.c.user_id, latest.c[1], Notification.occasion).join(
                Notification, Notification.id == latest.c[2]
            )
        )
    }


def _is_off(occasion: str) -> bool:
    return occasion.split("|", 1)[-1] == OFF


def sitting_notices(db: DbSession, context: Context, now: datetime) -> Iterator[Pending]:
    writer = _writers(context)
    for sitting in sittings.upcoming(db, now):
        people = sittings.rostered(db, sitting.id)
        said = _said_about(db, sitting.id)
        now_reads = fingerprint(sitting)
        recipients = (
            db.execute(select(User.id, User.email, User.language).where(User.id.in_(people))).all()
            if people
            else []
        )
        for user_id, email, language in recipients:
            count, last = said.get(user_id, (0, ""))
            if count and last.split("|", 1)[-1] == now_reads:
                continue  # told this already
            w = writer(language)
            title, body = _sitting_text(w, sitting, changed=bool(count))
            yield _sitting_notice(
                w, sitting, context=context, user_id=user_id, email=email, now=now,
                kind=CHANGED if count else INVITATION, count=count, occasion=now_reads,
                title=title, body=body,
            )  # fmt: skip
        off = set(said) - set(people) - sittings.sat_in(db, sitting.id)
        yield from _withdrawals(
            db, sitting, off, said, writer=writer, context=context, now=now, cancelled=False
        )
    for sitting in sittings.cancelled_ahead(db, now):
        said = _said_about(db, sitting.id)
        off = set(said) - sittings.sat_in(db, sitting.id)
        yield from _withdrawals(
            db, sitting, off, said, writer=writer, context=context, now=now, cancelled=True
        )


def _withdrawals(
    db: DbSession,
    sitting: Sitting,
    off: set[int],
    said: dict[int, tuple[int, str]],
    *,
    writer: Callable[[str | None], Writer],
    context: Context,
    now: datetime,
    cancelled: bool,
) -> Iterator[Pending]:
    """Tell each person in `off` whose latest notice still expects them that they are not
    expected (once: put back on the roster, they get the sitting as a change)."""
    waiting = sorted(user_id for user_id in off if not _is_off(said[user_id][1]))
    if not waiting:
        return
    for user_id, email, language in db.execute(
        select(User.id, User.email, User.language).where(User.id.in_(waiting))
    ):
        w = writer(language)
        title, body = _withdrawal_text(w, sitting, cancelled=cancelled)
        yield _sitting_notice(
            w, sitting, context=context, user_id=user_id, email=email, now=now,
            kind=WITHDRAWN, count=said[user_id][0], occasion=OFF, title=title, body=body,
        )  # fmt: skip


def _sitting_notice(
    w: Writer,
    sitting: Sitting,
    *,
    context: Context,
    user_id: int,
    email: str | None,
    now: datetime,
    kind: str,
    count: int,
    occasion: str,
    title: str,
    body: str,
) -> Pending:
    """A notice about a sitting with its calendar event: one event per sitting and person
    (the same UID), one version (SEQUENCE) per notice, cancelled by a withdrawal."""
    event = ical.Event(
        uid=f"sitting-{sitting.id}-person-{user_id}@{context.host}",
        sequence=count,
        starts_at=sitting.opens_at,
        ends_at=sitting.closes_at,
        summary=w._("Exam: %(course)s") % {"course": w.course(sitting.course_id)},
        location=sitting.place,
        description=body,
        stamp=now,
        cancelled=kind == WITHDRAWN,
    )
    return Pending(
        kind=kind,
        user_id=user_id,
        subject_type="sitting",
        subject_id=sitting.id,
        occasion=f"{count + 1}|{occasion}",
        lang=w.lang,
        title=title,
        body=body,
        email=email,
        attachment_name=f"sitting-{sitting.id}.ics",
        attachment=ical.calendar(event),
    )


def _withdrawal_text(w: Writer, sitting: Sitting, *, cancelled: bool) -> tuple[str, str]:
    _ = w._
    course = w.course(sitting.course_id)
    when = w.times.when(sitting.opens_at)
    title = (
        _("Exam sitting cancelled: %(course)s, %(when)s")
        if cancelled
        else _("No longer expected at an exam sitting: %(course)s, %(when)s")
    ) % {"course": course, "when": when}
    lines = [
        _("This exam sitting has been cancelled:")
        if cancelled
        else _("You have been taken off the roster of this exam sitting and are no longer expected there:"),
        "",
        _("Course: %(course)s") % {"course": course},
        _("Opens: %(when)s") % {"when": when},
        _("Place: %(place)s") % {"place": sitting.place},
        "",
        _("The attached calendar file removes it from your calendar."),
        _("If this is a mistake, ask the sitting's organiser."),
    ]
    return title, "\n".join(lines) + "\n"


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


# -- required qualifications ------------------------------------------------------------------


@dataclass(frozen=True)
class Behind:
    """A person required a course who holds no valid certificate for it (their required state is
    `not_yet_certified`, `expired` or `overdue`), against the earliest due date covering them."""

    user_id: int
    full_name: str
    unit_lineage: str | None
    unit_path: str | None
    email: str | None
    language: str | None
    course_id: str
    due: date
    state: str  # trainer.assignments.rules' required state


def due_occasion(due: date, now: datetime, zone: ZoneInfo) -> str | None:
    """Which due-date reminder a person behind on a requirement is due now, if any: `overdue` once
    the due day has ended in `zone`, `7_days` from 7 days before it (the due day included),
    `30_days` from 30 days before. Only the latest is sent: someone required 20 days ahead hears
    once now and once at 7 days, not twice today."""
    if now >= required.overdue_from(due, zone):
        return "overdue"
    days = (due - localtime.local_date(now, zone)).days
    if days <= DUE_SOON_DAYS:
        return "7_days"
    if days <= REMIND_DAYS_BEFORE:
        return "30_days"
    return None


def behind(db: DbSession, now: datetime, zone: ZoneInfo) -> list[Behind]:
    """Everyone a due-date reminder may concern now: the active people required a course by a
    date at most 30 days ahead (or past) who hold no valid certificate for it.

    Active assignments are few (one per course and unit, role or named person a manager chose),
    so they are read whole; only those due within the reminder window count, and the people are
    read through their targets (a lineage prefix each, as trainer.reports.compliance does): with
    no assignment due soon, no person is read at all. The earliest due date covering a person
    counts, and it is among these targets whenever any reminder is due for them."""
    until = localtime.local_date(now, zone) + timedelta(days=REMIND_DAYS_BEFORE)
    targets = [t for t in compliance.active_targets(db) if t.due <= until]
    if not targets:
        return []
    named = {t.person_id for t in targets if t.kind == "person"}
    # One condition per (lineage, role), however many courses require it there.
    scopes = {
        (t.lineage, "inspector" if t.kind == "unit" else (t.role or ""))
        for t in targets
        if t.kind != "person"
    }
    covered: list[ColumnElement[bool]] = [User.id.in_(named)] if named else []
    for lineage, role in sorted(scopes):
        covered.append(
            and_(
                Unit.lineage.startswith(lineage),
                exists().where(UserRole.user_id == User.id, UserRole.role == role),
            )
        )
    people = db.execute(
        select(User.id, User.full_name, User.email, User.language, Unit.lineage, Unit.path)
        .outerjoin(Unit, Unit.id == User.unit_id)  # a named person may have no unit
        .where(User.is_active.is_(True), or_(*covered))
        .order_by(User.id)
    ).all()
    courses = {t.course_id for t in targets}
    roles: dict[int, set[str]] = {}
    held: dict[tuple[int, str], policy.Facts] = {}
    ids = [p.id for p in people]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for user_id, role in db.execute(
            select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(chunk))
        ):
            roles.setdefault(user_id, set()).add(role)
        c = Certificate
        for row in db.execute(
            select(c.user_id, c.course_id, *FACT_COLUMNS).where(
                c.user_id.in_(chunk), c.course_id.in_(courses), c.is_current.is_(True)
            )
        ):
            held[(row.user_id, row.course_id)] = policy.Facts.from_row(row)
    found = []
    for p in people:
        person = required.Person(p.id, p.lineage, frozenset(roles.get(p.id, ())))
        for course_id, due in sorted(required.required_of(targets, person).items()):
            facts = held.get((p.id, course_id))
            certificate_state = policy.state_at(facts, now).value if facts is not None else None
            state = required.state_of(certificate_state, due, now, zone)
            if state in required.COMPLIANT:
                continue
            found.append(
                Behind(p.id, p.full_name, p.lineage, p.path, p.email, p.language, course_id, due, state)
            )
    return found


def _local_day(w: Writer, day: date, *, named: bool = False) -> str:
    """A calendar day (a due date is one in the configured zone) as the reader writes it."""
    return w.times.day(datetime.combine(day, time(12), w.times.zone), named=named)


def assignment_reminders(
    db: DbSession, context: Context, now: datetime, people: list[Behind]
) -> Iterator[Pending]:
    """Due-date reminders to people behind on a required certificate (see `due_occasion`).

    The subject is the person's requirement of a course, not an assignment: the occasion names
    the course and the due date that counts, so two assignments with the same date remind once,
    and a later different date (a new assignment, the earlier one withdrawn) reminds afresh."""
    writer = _writers(context)
    told: set[tuple[int, str]] = set()  # reminders already in the outbox: not composed again
    ids = sorted({b.user_id for b in people})
    for start in range(0, len(ids), _CHUNK):
        for user_id, said in db.execute(
            select(Notification.user_id, Notification.occasion).where(
                Notification.kind == ASSIGNMENT_DUE,
                Notification.user_id.in_(ids[start : start + _CHUNK]),
            )
        ):
            told.add((user_id, said))
    today = localtime.local_date(now, context.zone)
    for b in people:
        occasion = due_occasion(b.due, now, context.zone)
        if occasion is None:
            continue
        key = f"{b.course_id}|{b.due.isoformat()}|{occasion}"
        if (b.user_id, key) in told:
            continue
        w = writer(b.language)
        _ = w._
        values = {
            "course": w.course(b.course_id),
            "due": _local_day(w, b.due),
            "days": (b.due - today).days,
        }
        named = {**values, "due": _local_day(w, b.due, named=True)}
        if occasion == "overdue":
            title = _("Overdue: the %(course)s certificate was due by %(due)s") % values
            first = _(
                "You were required to hold the %(course)s certificate by %(due)s. That date has "
                "passed: the requirement is overdue, and your manager sees it as overdue."
            )
        else:
            title = (
                _("Certificate required by today, %(due)s: %(course)s")
                if values["days"] == 0
                else _("Certificate required by %(due)s: %(course)s (%(days)s day(s) left)")
            ) % values
            first = _(
                "You are required to hold the %(course)s certificate by %(due)s (the due date: "
                "the whole day counts)."
            )
        lines = [
            first % named,
            _("Your certificate for it has expired.")
            if b.state == "expired"
            else _("You do not hold a valid certificate for it yet."),
            _("Complete the course's modules and pass its final exam to obtain the certificate."),
        ]
        yield Pending(
            kind=ASSIGNMENT_DUE,
            user_id=b.user_id,
            subject_type="requirement",
            subject_id=b.user_id,
            occasion=key,
            lang=w.lang,
            title=title,
            body="\n\n".join(lines) + "\n",
            email=b.email,
        )


def overdue_by_manager(
    db: DbSession, people: list[Behind], now: datetime, zone: ZoneInfo
) -> dict[int, list[Behind]]:
    """The people past the due date of a required certificate, for every active manager whose
    part of the organisation holds them (as the renewal list is), longest overdue first."""
    overdue = sorted(
        (b for b in people if now >= required.overdue_from(b.due, zone) and b.unit_lineage is not None),
        key=lambda b: (b.due, b.full_name, b.user_id, b.course_id),
    )
    if not overdue:
        return {}
    managing: dict[str, list[int]] = {}
    for manager_id, lineage in db.execute(
        select(User.id, Unit.lineage)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Unit, Unit.id == User.unit_id)
        .where(UserRole.role == "manager", User.is_active.is_(True))
    ):
        managing.setdefault(lineage, []).append(manager_id)
    found: dict[int, list[Behind]] = {}
    for b in overdue:
        assert b.unit_lineage is not None
        for end, ch in enumerate(b.unit_lineage):  # "/1/4/" is under "/1/" and "/1/4/"
            if ch == "/" and end > 0:
                for manager_id in managing.get(b.unit_lineage[: end + 1], ()):
                    found.setdefault(manager_id, []).append(b)
    return found


def week_of(now: datetime, zone: ZoneInfo) -> str:
    year, week, _ = now.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def manager_digests(
    db: DbSession,
    context: Context,
    now: datetime,
    due: list[reminders.Reminder],
    overdue: dict[int, list[Behind]] | None = None,
) -> Iterator[Pending]:
    """A weekly digest to each manager with people needing action in their part: certificates to
    renew (`due`) and people past the due date of a required certificate (`overdue`, by
    manager). Each part lists at most DIGEST_LISTED people and counts the rest, so a province's
    digest stays an email one reads; the pages list everyone."""
    writer = _writers(context)
    overdue = overdue or {}
    by_manager: dict[int, list[reminders.Reminder]] = {}
    for reminder in due:
        by_manager.setdefault(reminder.manager_id, []).append(reminder)
    recipients = sorted(set(by_manager) | set(overdue))
    if not recipients:
        return
    managers = {
        row.id: row
        for row in db.execute(
            select(User.id, User.email, User.language, User.unit_id).where(User.id.in_(recipients))
        )
    }
    week = week_of(now, context.zone)
    today = localtime.local_date(now, context.zone)
    for manager_id in recipients:
        manager = managers.get(manager_id)
        if manager is None or manager.unit_id is None:
            continue
        items = by_manager.get(manager_id, [])
        late = overdue.get(manager_id, [])
        w = writer(manager.language)
        _ = w._
        lines: list[str] = []
        if items:
            lines += [
                _("Certificates in your part of the organisation that need renewing (%(date)s):")
                % {"date": w.times.day(now, named=True)},
                "",
            ]
            for r in items[:DIGEST_LISTED]:
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
            if len(items) > DIGEST_LISTED:
                lines.append(
                    _("… and %(count)s more: see the compliance report.")
                    % {"count": len(items) - DIGEST_LISTED}
                )
        if late:
            if lines:
                lines.append("")
            lines += [
                _(
                    "People in your part of the organisation past the due date of a required "
                    "certificate (%(date)s):"
                )
                % {"date": w.times.day(now, named=True)},
                "",
            ]
            for b in late[:DIGEST_LISTED]:
                lines.append(
                    _("- %(name)s (%(unit)s): %(course)s, due %(due)s, %(days)s day(s) overdue")
                    % {
                        "name": b.full_name,
                        "unit": b.unit_path or "",
                        "course": w.course(b.course_id),
                        "due": _local_day(w, b.due, named=True),
                        "days": (today - b.due).days,
                    }
                )
            if len(late) > DIGEST_LISTED:
                lines.append(
                    _("… and %(count)s more: see the compliance report.")
                    % {"count": len(late) - DIGEST_LISTED}
                )
        if late:
            title = _(
                "Needing action in your area: %(renewals)s certificate(s) to renew, %(overdue)s "
                "required certificate(s) overdue"
            ) % {"renewals": len(items), "overdue": len(late)}
        else:
            title = _("Renewals due in your area: %(count)s certificate(s)") % {"count": len(items)}
        yield Pending(
            kind=DIGEST,
            user_id=manager_id,
            subject_type="unit",
            subject_id=manager.unit_id,
            occasion=week,
            lang=w.lang,
            title=title,
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
        people_behind = behind(db, now, context.zone)
        for items in (
            sitting_notices(db, context, now),
            renewal_reminders(db, context, now),
            assignment_reminders(db, context, now, people_behind),
            manager_digests(
                db, context, now, due_list, overdue_by_manager(db, people_behind, now, context.zone)
            ),
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
