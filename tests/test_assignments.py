"""Required qualifications (assignments): requiring a course of a unit, a role or a person by a
due date, through the API on SQLite and PostgreSQL; who may; what each person is required; and
the compliance tallies of required people, checked against a direct row-by-row computation
through new assignments, withdrawals, unit moves, role changes, deactivation and the clock.

Each test builds its own organisation under a fresh top-level unit (the database is shared by the
whole run)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Person, make_person, pass_exam, ready_for_exam, token
from tests.test_compliance import _certify
from tests.test_sittings import viewer_of
from trainer import localtime
from trainer.assignments import rules
from trainer.assignments import service as assignments
from trainer.assignments.models import Assignment
from trainer.audit import service as audit
from trainer.audit.models import AuditEvent
from trainer.certification import policy
from trainer.certification.models import Certificate
from trainer.db import Database, utcnow
from trainer.people import service as people
from trainer.people.models import Unit, User, UserRole
from trainer.reports import compliance

COURSE = "demo-course"
API = "/api/v1/assignments"


@pytest.fixture
def database(migrated_database: Database) -> Database:
    return migrated_database


def _root() -> str:
    return f"Req {uuid.uuid4().hex[:8]}"


def _unit(database: Database, path: str) -> tuple[int, str]:
    with database.write() as db:
        unit = people.ensure_unit_path(db, audit.SYSTEM, path, utcnow())
        return unit.id, unit.lineage


def _today(database: Database) -> date:
    return localtime.local_date(utcnow(), database.time_zone)


# -- the API -----------------------------------------------------------------------------------


def test_a_manager_requires_a_course_of_a_county_and_its_inspectors_see_it(
    client: TestClient, database: Database
) -> None:
    root = _root()
    county_id, _ = _unit(database, f"{root}/City/County")
    manager = make_person(database, "manager", unit=f"{root}/City")
    inside = make_person(database, "inspector", unit=f"{root}/City/County/Bureau")
    beside = make_person(database, "inspector", unit=f"{root}/City/Other county")
    due = _today(database) + timedelta(days=90)
    response = client.post(
        API,
        headers=token(client, manager),
        json={"course_id": COURSE, "unit_id": county_id, "due": due.isoformat()},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["kind"] == "unit"
    assert created["unit"] == f"{root}/City/County"
    assert created["due"] == due.isoformat()
    assert created["withdrawable"] is True

    mine = client.get("/api/v1/me/assignments", headers=token(client, inside)).json()
    assert [(m["id"], m["course_id"], m["due"], m["state"]) for m in mine] == [
        (created["id"], COURSE, due.isoformat(), "not_yet_certified")
    ]
    assert client.get("/api/v1/me/assignments", headers=token(client, beside)).json() == []

    # The compliance API counts the county's required people; the city's other county has none.
    county = client.get(f"/api/v1/units/{county_id}/compliance", headers=token(client, manager)).json()
    required = next(c for c in county["courses"] if c["course_id"] == COURSE)["required"]
    assert required == {
        "required": 1,
        "valid": 0,
        "due_for_renewal": 0,
        "grace": 0,
        "expired": 0,
        "not_yet_certified": 1,
        "overdue": 0,
    }
    with database.session() as db:
        city_id = db.scalar(select(Unit.id).where(Unit.path == f"{root}/City"))
    by_child = {
        child["unit"]["name"]: next(c for c in child["courses"] if c["course_id"] == COURSE)["required"][
            "required"
        ]
        for child in client.get(f"/api/v1/units/{city_id}/compliance", headers=token(client, manager)).json()[
            "children"
        ]
    }
    assert by_child == {"County": 1, "Other county": 0}
    with database.session() as db:
        event = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "assignment.created", AuditEvent.target_id == str(created["id"])
            )
        ).one()
    assert event.actor_id == manager.id


def test_the_required_state_follows_the_certificate(client: TestClient, database: Database) -> None:
    headers, person = ready_for_exam(client, database)
    admin = make_person(database, "admin", unit=None)
    due = _today(database) + timedelta(days=30)
    created = client.post(
        API,
        headers=token(client, admin),
        json={"course_id": COURSE, "person_id": person.id, "due": due.isoformat()},
    )
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/me/assignments", headers=headers).json()[0]["state"] == "not_yet_certified"
    pass_exam(client, database, headers)
    mine = client.get("/api/v1/me/assignments", headers=headers).json()
    assert mine[0]["state"] == "valid"
    assert mine[0]["certificate_number"]


def test_who_may_require_what(client: TestClient, database: Database) -> None:
    root = _root()
    here_id, _ = _unit(database, f"{root}/Here/County")
    there_id, _ = _unit(database, f"{root}/There/County")
    manager = make_person(database, "manager", unit=f"{root}/Here")
    inspector = make_person(database, "inspector", unit=f"{root}/Here/County")
    stranger = make_person(database, "inspector", unit=f"{root}/There/County")
    trainer = make_person(database, "trainer", unit=None)
    due = (_today(database) + timedelta(days=10)).isoformat()
    as_manager = token(client, manager)

    def post(headers: dict[str, str], **body: Any) -> Any:
        return client.post(API, headers=headers, json={"course_id": COURSE, "due": due, **body})

    assert post({}, unit_id=here_id).status_code == 401
    assert post(token(client, inspector), unit_id=here_id).status_code == 403
    assert post(token(client, trainer), unit_id=here_id).status_code == 403
    assert post(as_manager, unit_id=there_id).status_code == 404  # outside their part
    assert post(as_manager, person_id=stranger.id).status_code == 404
    assert post(as_manager, person_id=inspector.id).status_code == 201
    assert post(as_manager, role="inspector").status_code == 201  # their own part by default
    assert post(as_manager, role="inspector", unit_id=there_id).status_code == 404
    refused = post(as_manager, role="admin")
    assert refused.status_code == 400
    assert refused.json()["detail"]["code"] == "invalid_assignment"
    assert post(as_manager, unit_id=here_id, person_id=inspector.id).status_code == 422
    assert post(as_manager).status_code == 422  # no target
    unknown = client.post(API, headers=as_manager, json={"course_id": "nope", "unit_id": here_id, "due": due})
    assert unknown.status_code == 400
    past = client.post(
        API,
        headers=as_manager,
        json={
            "course_id": COURSE,
            "unit_id": here_id,
            "due": (_today(database) - timedelta(days=1)).isoformat(),
        },
    )
    assert past.status_code == 400
    assert "passed" in past.json()["detail"]["message"]
    assert post(as_manager, unit_id=here_id).status_code == 201
    again = post(as_manager, unit_id=here_id)
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "already_required"
    bad_date = client.post(
        API, headers=as_manager, json={"course_id": COURSE, "unit_id": here_id, "due": "31.12.2027"}
    )
    assert bad_date.status_code == 422


def test_withdrawing_once_then_404_and_managers_see_what_covers_their_people(
    client: TestClient, database: Database
) -> None:
    root = _root()
    top_id, _ = _unit(database, f"{root}")
    top_manager = make_person(database, "manager", unit=root)
    county_manager = make_person(database, "manager", unit=f"{root}/City/County")
    elsewhere = make_person(database, "manager", unit=f"{_root()}/City")
    inspector = make_person(database, "inspector", unit=f"{root}/City/County")
    due = (_today(database) + timedelta(days=60)).isoformat()
    from_top = client.post(
        API, headers=token(client, top_manager), json={"course_id": COURSE, "unit_id": top_id, "due": due}
    ).json()
    # The county's manager sees the province's requirement (it covers their people), read-only.
    seen = client.get(API, headers=token(client, county_manager)).json()
    assert [(s["id"], s["withdrawable"]) for s in seen] == [(from_top["id"], False)]
    assert client.get(API, headers=token(client, elsewhere)).json() == []
    assert client.delete(f"{API}/{from_top['id']}", headers=token(client, county_manager)).status_code == 404
    assert client.delete(f"{API}/{from_top['id']}", headers=token(client, elsewhere)).status_code == 404
    assert client.delete(f"{API}/{from_top['id']}", headers=token(client, inspector)).status_code == 403

    gone = client.delete(f"{API}/{from_top['id']}?reason=set by mistake", headers=token(client, top_manager))
    assert gone.status_code == 204
    assert client.delete(f"{API}/{from_top['id']}", headers=token(client, top_manager)).status_code == 404
    assert client.get("/api/v1/me/assignments", headers=token(client, inspector)).json() == []
    with database.session() as db:
        row = db.get_one(Assignment, from_top["id"])
        assert row.withdrawn_at is not None
        assert row.withdrawn_reason == "set by mistake"
        assert db.scalar(
            select(AuditEvent.id).where(
                AuditEvent.action == "assignment.withdrawn", AuditEvent.target_id == str(from_top["id"])
            )
        )


# -- the tallies against a direct computation --------------------------------------------------


def _direct_required(database: Database, lineage: str, course_id: str, now: datetime) -> dict[str, int]:
    """Required people of a subtree and their states, counted person by person from the tables,
    with the rule written out again here: covered by a unit assignment (an inspector under it),
    a role assignment (holding the role under it) or by name; the earliest due date counts."""
    zone = database.time_zone
    with database.session() as db:
        targets = db.scalars(select(Assignment).where(Assignment.withdrawn_at.is_(None))).all()
        members = db.execute(
            select(User.id, Unit.lineage)
            .join(Unit, Unit.id == User.unit_id)
            .where(User.is_active.is_(True), Unit.lineage.startswith(lineage))
        ).all()
        counts: Counter[str] = Counter()
        for user_id, unit_lineage in members:
            roles = set(db.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))
            dues = [
                t.due
                for t in targets
                if t.course_id == course_id
                and (
                    (t.kind == "person" and t.person_id == user_id)
                    or (t.kind == "unit" and unit_lineage.startswith(t.lineage) and "inspector" in roles)
                    or (t.kind == "role" and unit_lineage.startswith(t.lineage) and t.role in roles)
                )
            ]
            if not dues:
                continue
            due = min(dues)
            certificate = db.scalar(
                select(Certificate).where(
                    Certificate.user_id == user_id,
                    Certificate.course_id == course_id,
                    Certificate.is_current.is_(True),
                )
            )
            held = (
                policy.state_at(
                    policy.Facts(
                        certificate.valid_from,
                        certificate.expires_at,
                        certificate.renewal_window_days,
                        certificate.grace_days,
                        certificate.suspended_at,
                        certificate.revoked_at,
                    ),
                    now,
                ).value
                if certificate
                else None
            )
            end_of_due = datetime.combine(due + timedelta(days=1), datetime.min.time(), zone)
            if held in ("valid", "due_for_renewal", "grace", "expired"):
                state = held
            else:
                state = "overdue" if now >= end_of_due else "not_yet_certified"
            counts["required"] += 1
            counts[state] += 1
    return {k: counts.get(k, 0) for k in ("required", *rules.REQUIRED_STATES)}


def _tallied(database: Database, path: str, course_id: str, now: datetime) -> compliance.Rollup:
    compliance.bring_up_to_date(database, now, keep_snapshot=False)
    with database.session() as db:
        unit_id = db.scalar(select(Unit.id).where(Unit.path == path))
        unit = compliance.unit_ref(db, unit_id)
        assert unit is not None
        return compliance.rollup(db, unit, [course_id])


def _lineage(database: Database, path: str) -> str:
    with database.session() as db:
        return db.scalars(select(Unit.lineage).where(Unit.path == path)).one()


def test_required_tallies_agree_with_a_direct_count_through_changes_and_the_clock(database: Database) -> None:
    rng = random.Random(20261204)
    root = _root()
    counties = [f"{root}/City {c}/County {k}" for c in "AB" for k in "12"]
    for path in counties:
        _unit(database, path)
    admin = make_person(database, "admin", unit=None)
    admin_viewer = viewer_of(database, admin)
    actor = audit.Actor(admin.id, admin.username)
    people_made: list[Person] = []
    for i in range(40):
        roles = ["inspector"] if i % 5 else ["inspector", "manager"]
        if i % 13 == 0:
            roles = ["trainer"]
        person = make_person(database, *roles, unit=rng.choice(counties))
        people_made.append(person)
        pick = rng.random()
        if pick < 0.25:
            _certify(database, person, expires_in=timedelta(days=rng.choice([400, 60, -20, -120])))
        elif pick < 0.3:
            _certify(database, person, expires_in=timedelta(days=400), suspended=True)
    today = _today(database)
    with database.write() as db:
        units = {p: db.scalar(select(Unit.id).where(Unit.path == p)) for p in counties}
        city_a = db.scalar(select(Unit.id).where(Unit.path == f"{root}/City A"))
        course_ids = {COURSE}
        root_id = db.scalar(select(Unit.id).where(Unit.path == root))
        wanted = [  # a city, a county, a role in the whole tree, a named person
            assignments.AssignmentInput(COURSE, today + timedelta(days=20), unit_id=city_a),
            assignments.AssignmentInput(COURSE, today + timedelta(days=5), unit_id=units[counties[3]]),
            assignments.AssignmentInput(COURSE, today + timedelta(days=40), role="manager", unit_id=root_id),
            assignments.AssignmentInput(COURSE, today + timedelta(days=3), person_id=people_made[0].id),
        ]
        made = [
            assignments.create(db, actor, admin_viewer, given, course_ids=course_ids, now=utcnow())
            for given in wanted
        ]
    lineage = _lineage(database, root)

    def agree(now: datetime) -> dict[str, int]:
        direct = _direct_required(database, lineage, COURSE, now)
        found = _tallied(database, root, COURSE, now)
        assert found.required[COURSE].as_dict() == direct
        for row in found.rows:
            assert row.unit is not None
            assert row.required[COURSE].as_dict() == _direct_required(database, row.unit.lineage, COURSE, now)
        return direct

    now = utcnow()
    first = agree(now)
    assert first["required"] > 10
    assert first["not_yet_certified"] > 0

    # People move, change roles, are deactivated; an assignment is withdrawn.
    with database.write() as db:
        for person in people_made[1:6]:
            user = db.get_one(User, person.id)
            target = db.get_one(Unit, units[rng.choice(counties)])
            people.update_user(
                db,
                actor,
                user,
                full_name=user.full_name,
                email=None,
                unit=target,
                roles=["inspector"],
                now=now,
            )
        user = db.get_one(User, people_made[7].id)
        people.set_active(db, actor, user, False, now)
        user = db.get_one(User, people_made[8].id)
        people.update_user(
            db,
            actor,
            user,
            full_name=user.full_name,
            email=None,
            unit=db.get_one(Unit, user.unit_id),
            roles=["manager"],
            now=now,
        )
    agree(now)
    with database.write() as db:
        assignments.withdraw(db, actor, admin_viewer, made[1].id, reason="", now=now)
    agree(now)

    # The clock: due dates pass (not yet certified -> overdue), certificates run into renewal,
    # grace and expiry.
    later = {}
    try:
        for days in (4, 21, 45, 90, 500):
            later[days] = agree(now + timedelta(days=days))
    finally:
        compliance.rebuild(database, now)  # back from the future (real clocks only move forward)
    assert later[45]["overdue"] > 0
    assert later[45]["not_yet_certified"] == 0
    assert later[500]["expired"] > 0
    agree(now)
