"""Every route x every kind of visitor: the expected status in each cell.

The matrix must name every route the app has: adding a route without deciding who may use it
fails `test_the_matrix_covers_every_route`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from starlette.routing import Mount, Route

from tests.conftest import Person, csrf_token, make_person, page_routes, right_answer, sign_in
from trainer.access import Access
from trainer.assignments.models import Assignment
from trainer.content.models import ContentDraft
from trainer.db import Database, utcnow
from trainer.notifications.models import Notification
from trainer.people.models import Unit
from trainer.sittings.models import Sitting, SittingSupervisor, SittingUnit
from trainer.web.pages import API_PREFIX, PageRoute, PageRoutes, is_api

PERSONAS = [
    "anonymous",
    "inspector",
    "other_inspector",
    "trainer",
    "manager_here",
    "manager_elsewhere",
    "admin",
]
UNIT_HERE = "Matrix/City Here/County/Bureau"
UNIT_ELSEWHERE = "Matrix/City Elsewhere/County/Bureau"


def row(
    anonymous: int,
    inspector: int,
    other_inspector: int,
    trainer: int,
    manager_here: int,
    manager_elsewhere: int,
    admin: int,
) -> dict[str, int]:
    return dict(
        zip(
            PERSONAS,
            [anonymous, inspector, other_inspector, trainer, manager_here, manager_elsewhere, admin],
            strict=True,
        )
    )


EVERYONE_200 = row(*[200] * 7)
SIGNED_IN_PAGE = row(303, 200, 200, 200, 200, 200, 200)
ADMIN_PAGE = row(303, 403, 403, 403, 403, 403, 200)
MANAGER_PAGE = row(303, 403, 403, 403, 200, 200, 200)
ADMIN_FORM = {status: row(401, 403, 403, 403, 403, 403, status) for status in (200, 303, 400)}
TRAINER_PAGE = row(303, 403, 403, 200, 403, 403, 200)
ORGANISER_PAGE = row(303, 403, 403, 200, 200, 200, 200)
# A sitting's board: its organisers (in scope) and its supervisor; for anyone else it does not exist.
BOARD_PAGE = row(303, 404, 200, 200, 200, 404, 200)
BOARD_FORM = {status: row(401, 404, status, status, status, 404, status) for status in (200, 400)}
BOARD_API = row(401, 404, 200, 200, 200, 404, 200)

# (method, path template) -> expected status per persona. {user} is the inspector's id;
# {target} a spare account the admin's actions may change.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): row(*[303] * 7),
    ("POST", "/language"): row(*[303] * 7),
    ("GET", "/healthz"): EVERYONE_200,
    ("GET", "/metrics"): row(*[404] * 7),  # off unless TRAINER_METRICS=on (tests/test_observability.py)
    ("GET", "/openapi.json"): EVERYONE_200,
    ("GET", "/courses"): EVERYONE_200,
    ("GET", "/courses/{course_id}"): EVERYONE_200,
    ("GET", "/courses/{course_id}/{module_id}"): EVERYONE_200,
    ("GET", "/courses/{course_id}/assets/{path:path}"): EVERYONE_200,
    ("GET", "/search"): EVERYONE_200,
    ("GET", "/login"): row(200, 303, 303, 303, 303, 303, 303),
    ("POST", "/login"): row(*[400] * 7),  # a wrong password, whoever sends it
    ("GET", "/account/password"): SIGNED_IN_PAGE,
    ("POST", "/account/password"): row(401, 400, 400, 400, 400, 400, 400),  # mismatched new passwords
    ("GET", "/people/{user_id}"): row(303, 200, 404, 404, 200, 404, 200),
    ("GET", "/admin"): ADMIN_PAGE,
    ("GET", "/admin/users"): ADMIN_PAGE,
    ("GET", "/admin/users/new"): ADMIN_PAGE,
    ("POST", "/admin/users/new"): ADMIN_FORM[400],  # an empty form
    ("GET", "/admin/users/import"): ADMIN_PAGE,
    ("POST", "/admin/users/import"): ADMIN_FORM[400],  # no file
    ("POST", "/admin/users/import/confirm"): ADMIN_FORM[400],  # no rows
    ("GET", "/admin/users/{user_id}"): ADMIN_PAGE,
    ("POST", "/admin/users/{user_id}"): ADMIN_FORM[400],  # no roles chosen
    ("POST", "/admin/users/{user_id}/deactivate"): ADMIN_FORM[200],  # asks for confirmation first
    ("POST", "/admin/users/{user_id}/activate"): ADMIN_FORM[303],
    ("POST", "/admin/users/{user_id}/reset-password"): ADMIN_FORM[200],  # asks for confirmation first
    ("GET", "/admin/units"): ADMIN_PAGE,
    ("POST", "/admin/units"): ADMIN_FORM[400],  # an empty name
    ("GET", "/admin/audit"): ADMIN_PAGE,
    ("POST", "/api/v1/auth/token"): row(*[401] * 7),  # a wrong password
    ("GET", "/api/v1/me"): row(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/me/password"): row(401, 400, 400, 400, 400, 400, 400),  # a wrong current password
    ("GET", "/api/v1/courses/{course_id}/modules/{module_id}"): row(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/courses/{course_id}/exam/attempts"): row(
        401, 403, 403, 403, 403, 403, 403
    ),  # modules first
    ("POST", "/api/v1/modules/{module_id}/practice/attempts"): row(401, 200, 200, 200, 200, 200, 200),
    # {attempt_id} is the inspector's own practice attempt.
    ("PUT", "/api/v1/attempts/{attempt_id}/answers/{slot}"): row(401, 200, 404, 404, 404, 404, 404),
    ("GET", "/api/v1/attempts/{attempt_id}"): row(401, 200, 404, 404, 404, 404, 404),
    ("PUT", "/api/v1/attempts/{attempt_id}/flags/{slot}"): row(401, 200, 404, 404, 404, 404, 404),
    ("GET", "/api/v1/attempts/{attempt_id}/flags"): row(401, 200, 404, 404, 404, 404, 404),
    ("DELETE", "/api/v1/attempts/{attempt_id}/flags/{slot}"): row(401, 200, 404, 404, 404, 404, 404),
    ("POST", "/api/v1/attempts/{attempt_id}/submit"): row(401, 200, 404, 404, 404, 404, 404),
    ("GET", "/api/v1/me/attempts"): row(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/modules/{module_id}/practice"): row(401, 303, 303, 303, 303, 303, 303),
    ("POST", "/courses/{course_id}/exam"): row(401, 403, 403, 403, 403, 403, 403),  # modules first
    ("GET", "/attempts/{attempt_id}"): row(303, 200, 404, 404, 404, 404, 404),
    ("GET", "/me/results"): SIGNED_IN_PAGE,
    ("GET", "/dashboard"): SIGNED_IN_PAGE,
    # Managers' reports: each manager sees their own part of the organisation ({unit_id} is the
    # inspector's city, which only manager_here manages).
    ("GET", "/manage"): MANAGER_PAGE,
    ("GET", "/manage/rollup.csv"): MANAGER_PAGE,
    ("GET", "/manage/rollup.xlsx"): MANAGER_PAGE,
    ("GET", "/manage/inspectors"): MANAGER_PAGE,
    ("GET", "/manage/inspectors.csv"): MANAGER_PAGE,
    ("GET", "/manage/inspectors.xlsx"): MANAGER_PAGE,
    # Required qualifications: an empty form is refused beside the form; withdrawing the
    # inspector's requirement asks first (for the manager in scope and the admin).
    ("GET", "/manage/requirements"): MANAGER_PAGE,
    ("POST", "/manage/requirements"): row(401, 403, 403, 403, 400, 400, 400),
    ("POST", "/manage/requirements/{assignment_id}/withdraw"): row(401, 403, 403, 403, 200, 404, 200),
    ("POST", "/certificates/{number}/action"): row(401, 403, 403, 403, 404, 404, 404),  # unknown number
    ("GET", "/api/v1/units/{unit_id}/compliance"): row(401, 403, 403, 403, 200, 404, 200),
    ("GET", "/api/v1/inspectors/{user_id}/transcript"): row(401, 200, 404, 404, 200, 404, 200),
    ("GET", "/verify"): EVERYONE_200,
    ("GET", "/certificates/{number}"): row(303, 404, 404, 404, 404, 404, 404),  # an unknown number
    ("GET", "/certificates/{number}/badge.json"): row(303, 404, 404, 404, 404, 404, 404),
    ("GET", "/certificates/{number}/badge.jwt"): row(303, 404, 404, 404, 404, 404, 404),
    ("GET", "/issuer.json"): EVERYONE_200,
    ("GET", "/verify/{code}"): row(*[404] * 7),  # an unknown code
    ("GET", "/api/v1/verify/{code}"): row(*[404] * 7),
    ("GET", "/api/v1/me/certificates"): row(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/certificates/{number}/{action}"): row(
        401, 403, 403, 403, 404, 404, 404
    ),  # unknown number
    ("GET", "/api/v1/inspectors/{user_id}/certificates"): row(401, 403, 403, 403, 200, 404, 200),
    # The trainer's reports ({question_id} is an unknown question).
    ("GET", "/trainer/items"): row(303, 403, 403, 200, 403, 403, 200),
    ("GET", "/trainer/items/{question_id}"): row(303, 403, 403, 404, 403, 403, 404),
    ("GET", "/trainer/tags"): row(303, 403, 403, 200, 403, 403, 200),
    ("GET", "/trainer/content"): row(303, 403, 403, 200, 403, 403, 200),
    ("POST", "/attempts/{attempt_id}/answers"): row(401, 303, 404, 404, 404, 404, 404),
    ("POST", "/attempts/{attempt_id}/flag"): row(401, 303, 404, 404, 404, 404, 404),
    # The confirmation page of an attempt the API submitted above: back to its result.
    ("GET", "/attempts/{attempt_id}/submit"): row(303, 303, 404, 404, 404, 404, 404),
    ("POST", "/attempts/{attempt_id}/submit"): row(401, 303, 404, 404, 404, 404, 404),
    # Exam sittings. {sitting_id} rosters the inspector's unit, supervised by the other inspector;
    # it lies in manager_here's part of the organisation. {person_id} is the inspector.
    ("GET", "/sittings"): SIGNED_IN_PAGE,
    ("GET", "/sittings/new"): ORGANISER_PAGE,
    ("POST", "/sittings/new"): row(401, 403, 403, 400, 400, 400, 400),  # an empty form
    ("GET", "/sittings/{sitting_id}"): BOARD_PAGE,
    ("GET", "/sittings/{sitting_id}/edit"): row(303, 403, 403, 200, 200, 404, 200),
    ("POST", "/sittings/{sitting_id}/edit"): row(401, 403, 403, 400, 400, 404, 400),  # an empty form
    ("POST", "/sittings/{sitting_id}/roster"): row(401, 403, 403, 400, 400, 404, 400),  # no file
    ("POST", "/sittings/{sitting_id}/extra"): row(401, 403, 403, 400, 400, 404, 400),  # no minutes
    ("GET", "/sittings/{sitting_id}/people/{person_id}"): BOARD_PAGE,
    ("POST", "/sittings/{sitting_id}/people/{person_id}/extend"): BOARD_FORM[400],  # no reason
    ("POST", "/sittings/{sitting_id}/attempts/{attempt_id}/void"): BOARD_FORM[200],  # asks first
    ("POST", "/sittings/{sitting_id}/close"): BOARD_FORM[200],  # asks first
    ("GET", "/sittings/{sitting_id}/attendance"): BOARD_PAGE,
    ("GET", "/sittings/{sitting_id}/results"): BOARD_PAGE,
    ("GET", "/sittings/{sitting_id}/results.csv"): BOARD_PAGE,
    ("GET", "/sittings/{sitting_id}/results.xlsx"): BOARD_PAGE,
    # The demo course's exam is taken any time: no sittings for it (409), whoever may schedule.
    ("POST", "/api/v1/courses/{course_id}/sittings"): row(401, 403, 403, 409, 409, 409, 409),
    ("GET", "/api/v1/sittings/{sitting_id}"): BOARD_API,
    ("PUT", "/api/v1/sittings/{sitting_id}/people/{person_id}"): BOARD_API,
    ("POST", "/api/v1/sittings/{sitting_id}/close"): BOARD_API,  # after the PUT: it closes the sitting
    # Managers in scope require a course of their unit; the admin then finds it required already.
    ("POST", "/api/v1/assignments"): row(401, 403, 403, 403, 201, 404, 409),
    ("GET", "/api/v1/assignments"): row(401, 403, 403, 403, 200, 200, 200),
    # The inspector's own requirement: withdrawn by the manager in scope, then gone for everyone.
    ("DELETE", "/api/v1/assignments/{assignment_id}"): row(401, 403, 403, 403, 204, 404, 404),
    ("GET", "/api/v1/me/assignments"): row(401, 200, 200, 200, 200, 200, 200),
    # Notifications: everyone their own; {notification_id} is the inspector's (an invitation with
    # a calendar file), which for anyone else does not exist.
    ("GET", "/notifications"): SIGNED_IN_PAGE,
    ("GET", "/notifications/{notification_id}"): row(303, 200, 404, 404, 404, 404, 404),
    ("GET", "/notifications/{notification_id}/calendar.ics"): row(303, 200, 404, 404, 404, 404, 404),
    ("POST", "/notifications/read"): row(401, 303, 303, 303, 303, 303, 303),
    # Authoring (trainers and admins). {draft_id} is the admin's draft of demo-first, submitted;
    # {version_id} a version that does not exist.
    ("GET", "/trainer/authoring"): TRAINER_PAGE,
    ("POST", "/trainer/authoring/drafts"): row(401, 403, 403, 404, 403, 403, 404),  # no such module
    # A new module's draft: no course named, so no such course.
    ("POST", "/trainer/authoring/new-module"): row(401, 403, 403, 404, 403, 403, 404),
    ("POST", "/trainer/authoring/new-course"): row(401, 403, 403, 422, 403, 403, 422),
    ("GET", "/trainer/authoring/drafts/{draft_id}"): TRAINER_PAGE,
    # Only the author changes a draft, and not while it is under review.
    ("POST", "/trainer/authoring/drafts/{draft_id}"): row(401, 403, 403, 403, 403, 403, 409),
    # A comment with no text: the reviewer is asked for one; the author may not review at all.
    ("POST", "/trainer/authoring/drafts/{draft_id}/review"): row(401, 403, 403, 422, 403, 403, 403),
    # An image for the draft: only its author, and not while it is under review.
    ("POST", "/trainer/authoring/drafts/{draft_id}/images"): row(401, 403, 403, 403, 403, 403, 409),
    ("GET", "/trainer/authoring/modules/{module_id}"): TRAINER_PAGE,
    # One question of a bank file draft in a form: {draft_id} is a module draft, so none.
    ("GET", "/trainer/authoring/drafts/{draft_id}/question"): row(303, 403, 403, 404, 403, 403, 404),
    ("POST", "/trainer/authoring/drafts/{draft_id}/question"): row(401, 403, 403, 404, 403, 403, 404),
    ("GET", "/trainer/authoring/drafts/{draft_id}/translation"): row(303, 403, 403, 404, 403, 403, 404),
    ("POST", "/trainer/authoring/drafts/{draft_id}/translation"): row(401, 403, 403, 404, 403, 403, 404),
    # A course draft's translation in a form: {draft_id} is a module draft, so none.
    ("GET", "/trainer/authoring/drafts/{draft_id}/course-translation"): row(
        303, 403, 403, 404, 403, 403, 404
    ),
    ("POST", "/trainer/authoring/drafts/{draft_id}/course-translation"): row(
        401, 403, 403, 404, 403, 403, 404
    ),
    # A course.yaml's or bank file's history, by ?path= (none given here: no such file).
    ("GET", "/trainer/authoring/files"): row(303, 403, 403, 404, 403, 403, 404),
    ("GET", "/trainer/authoring/versions/{version_id}"): row(303, 403, 403, 404, 403, 403, 404),
    ("POST", "/trainer/authoring/versions/{version_id}/restore"): row(401, 403, 403, 404, 403, 403, 404),
    # Last: these end the persona's session or token.
    ("POST", "/logout"): row(401, 303, 303, 303, 303, 303, 303),
    ("DELETE", "/api/v1/auth/token"): row(401, 204, 204, 204, 204, 204, 204),
}

UNIT_IDS: dict[str, int] = {}
SITTING_IDS: dict[str, int] = {}
DRAFT_IDS: dict[str, int] = {}
PATH_VALUES = {
    "course_id": "demo-course",
    "module_id": "demo-first",
    "question_id": "NO-SUCH-QUESTION",
    "path:path": "airflow.svg",
    "slot": "1",
    "code": "0000000000",
    "number": "HLJ-COAL-2000-000000",
    "action": "suspend",
    "version_id": "999999",
}


ANSWERS: dict[str, object] = {}


@dataclass
class Visitor:
    client: TestClient
    token: str | None


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Pages and plain routes from the route table; the JSON API from its OpenAPI schema (FastAPI
    keeps included routers in private structures; every API route is in the schema)."""
    found = set()
    for route in [*app.routes, *page_routes(app)]:
        if isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"
        elif isinstance(route, Route):
            found.update((method, route.path) for method in route.methods or () if method != "HEAD")
    for path, operations in app.openapi()["paths"].items():
        found.update((method.upper(), path) for method in operations)
    return found


def test_the_matrix_covers_every_route(app: FastAPI) -> None:
    assert app_routes(app) == set(MATRIX)


def test_no_page_is_under_the_api_prefix(app: FastAPI) -> None:
    """The pages' group answers "no" to any /api/ path without trying the pages' patterns
    (trainer.web.pages.PageRoutes): a page there would never be reached."""
    pages = page_routes(app)
    assert len(pages) > 20
    assert [r.path for r in pages if r.path.startswith(API_PREFIX)] == []


def test_one_answer_to_is_this_an_api_request() -> None:
    """The route table, the request middleware and the error handlers all ask `is_api`: under the
    app's root path too, and only for the /api/ folder itself."""
    assert is_api({"path": "/api/v1/attempts/1/submit"})
    assert is_api({"path": "/trainer/api/v1/me", "root_path": "/trainer"})
    assert not is_api({"path": "/trainer/courses", "root_path": "/trainer"})
    assert not is_api({"path": "/apiary"})
    assert not is_api({"path": "/courses/api/v1"})


def test_names_are_found_past_the_pages_group(app: FastAPI) -> None:
    """The group is an entry of the route table, so a name looked up in the app passes through it
    to the routes after it (Starlette asks every entry in turn)."""
    assert app.url_path_for("static", path="trainer.css") == "/static/trainer.css"


def test_every_page_declares_its_access(app: FastAPI) -> None:
    """Every plain route is a page in the pages' group, so it is served with its access rule."""
    plain = [r for r in app.routes if isinstance(r, Route) and r.path != "/openapi.json"]
    assert plain == []
    grouped = [r for r in app.routes if isinstance(r, PageRoutes)]
    assert len(grouped) == 1
    for route in grouped[0].routes:
        assert isinstance(route, PageRoute), route.path
        assert isinstance(route.access, Access), route.path


@pytest.fixture
def visitors(app: FastAPI, migrated_database: Database) -> Iterator[dict[str, Visitor]]:
    people: dict[str, Person | None] = {
        "anonymous": None,
        "inspector": make_person(migrated_database, "inspector", unit=UNIT_HERE),
        "other_inspector": make_person(migrated_database, "inspector", unit=UNIT_ELSEWHERE),
        "trainer": make_person(migrated_database, "trainer", unit=None),
        "manager_here": make_person(migrated_database, "manager", unit="Matrix/City Here"),
        "manager_elsewhere": make_person(migrated_database, "manager", unit="Matrix/City Elsewhere"),
        "admin": make_person(migrated_database, "admin", unit=None),
    }
    result = {}
    for name, person in people.items():
        client = TestClient(app)
        token = None
        if person is not None:
            sign_in(client, person)
            response = client.post(
                "/api/v1/auth/token", json={"username": person.username, "password": person.password}
            )
            token = response.json()["access_token"]
        result[name] = Visitor(client, token)
    result["inspector"].client.headers["X-Person-Id"] = str(people["inspector"].id)  # type: ignore[union-attr]
    practice = (
        result["inspector"]
        .client.post(
            "/api/v1/modules/demo-first/practice/attempts",
            headers={"Authorization": f"Bearer {result['inspector'].token}"},
        )
        .json()
    )
    result["inspector"].client.headers["X-Attempt-Id"] = str(practice["id"])
    with migrated_database.session() as db:
        UNIT_IDS["here"] = db.scalars(select(Unit.id).where(Unit.path == "Matrix/City Here")).one()
        inspector_unit = db.scalars(select(Unit).where(Unit.path == UNIT_HERE)).one()
    # Written directly: the demo course's exam is taken any time, so the service would refuse it.
    now = utcnow()
    with migrated_database.write() as db:
        sitting = Sitting(
            course_id="demo-course",
            opens_at=now,
            closes_at=now + timedelta(hours=2),
            late_entry_minutes=None,
            place="Matrix room",
            access_code=None,
            scope_lineage=inspector_unit.lineage,
            created_by=None,
            created_at=now,
        )
        db.add(sitting)
        db.flush()
        db.add(SittingUnit(sitting_id=sitting.id, unit_id=inspector_unit.id))
        db.add(SittingSupervisor(sitting_id=sitting.id, user_id=people["other_inspector"].id))  # type: ignore[union-attr]
        SITTING_IDS["matrix"] = sitting.id
        notification = Notification(
            kind="sitting.invitation",
            user_id=people["inspector"].id,  # type: ignore[union-attr]
            subject_type="sitting",
            subject_id=sitting.id,
            occasion="matrix",
            lang="en",
            title="Exam sitting",
            body="Matrix room",
            attachment_name="sitting.ics",
            attachment="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            created_at=now,
            email=None,
            email_state="no_email",
            attempts=0,
        )
        db.add(notification)
        db.flush()
        PATH_VALUES["notification_id"] = str(notification.id)
        # A submitted draft by the admin, written directly (the review rules have their own tests).
        draft = ContentDraft(
            kind="module",
            path="demo-course/01-first.md",
            item_id="demo-first",
            lang="en",
            text="---\nid: demo-first\n---\n",
            base_text="",
            base_version=None,
            status="submitted",
            author_id=people["admin"].id,  # type: ignore[union-attr]
            created_at=now,
            updated_at=now,
        )
        db.add(draft)
        db.flush()
        DRAFT_IDS["matrix"] = draft.id
        assignment = Assignment(
            course_id="demo-course",
            kind="person",
            person_id=people["inspector"].id,  # type: ignore[union-attr]
            lineage=inspector_unit.lineage,
            due=(now + timedelta(days=30)).date(),
            created_at=now,
        )
        db.add(assignment)
        db.flush()
        PATH_VALUES["assignment_id"] = str(assignment.id)
    ANSWERS["slot1"] = right_answer(migrated_database, practice["id"], 1)
    yield result
    for visitor in result.values():
        visitor.client.close()
    with migrated_database.write() as db:  # the test database is shared by the run
        db.execute(delete(ContentDraft).where(ContentDraft.id == DRAFT_IDS["matrix"]))


def request(visitor: Visitor, method: str, path: str, user_id: int, target_id: int, attempt_id: int) -> int:
    url = path.replace("{user_id}", str(target_id if path.startswith("/admin/users/{user_id}") else user_id))
    url = url.replace("{attempt_id}", str(attempt_id)).replace("{unit_id}", str(UNIT_IDS["here"]))
    url = url.replace("{sitting_id}", str(SITTING_IDS["matrix"])).replace("{person_id}", str(user_id))
    url = url.replace("{draft_id}", str(DRAFT_IDS["matrix"]))
    for key, value in PATH_VALUES.items():
        url = url.replace("{" + key + "}", value)
    if path == "/courses/{course_id}/assets/{path:path}":
        url = "/courses/demo-course/assets/airflow.svg"
    client = visitor.client
    headers = (
        {"Authorization": f"Bearer {visitor.token}"} if visitor.token and path.startswith("/api/") else {}
    )
    if path.startswith("/api/"):
        bodies = {
            "/api/v1/auth/token": {
                "username": f"nobody-{uuid.uuid4().hex[:8]}",
                "password": "wrong-password",
            },
            "/api/v1/me/password": {
                "current_password": "not-the-password",
                "new_password": "whatever new one",
            },
            "/api/v1/attempts/{attempt_id}/answers/{slot}": ANSWERS["slot1"],
            "/api/v1/certificates/{number}/{action}": {"reason": "matrix"},
            "/api/v1/courses/{course_id}/sittings": {
                "opens_at": "2030-01-01T09:00:00+08:00",
                "closes_at": "2030-01-01T11:00:00+08:00",
            },
            "/api/v1/sittings/{sitting_id}/people/{person_id}": {"extra_minutes": 5},
            "/api/v1/assignments": {
                "course_id": "demo-course",
                "unit_id": UNIT_IDS["here"],
                "due": (utcnow() + timedelta(days=60)).date().isoformat(),
            },
        }
        response = client.request(method, url, headers=headers, json=bodies.get(path), follow_redirects=False)
        return response.status_code
    if method == "GET":
        return client.get(url, follow_redirects=False).status_code
    form = {"csrf_token": csrf_token(client, "/login" if path == "/login" else "/courses")}
    form.update(
        {
            "/login": {"username": f"nobody-{uuid.uuid4().hex[:8]}", "password": "wrong-password"},
            "/language": {"lang": "en", "next": "/courses"},
            "/account/password": {
                "current_password": "x",
                "new_password": "one thing 12345",
                "confirm_password": "another",
            },
            "/admin/users/{user_id}": {"full_name": "Spare Person", "unit_id": ""},
            "/certificates/{number}/action": {"action": "suspend", "reason": "matrix"},
            "/attempts/{attempt_id}/flag": {"flag": "1-on"},
            "/trainer/authoring/drafts/{draft_id}/review": {"action": "comment", "comment": ""},
        }.get(path, {})
    )
    return client.post(url, data=form, follow_redirects=False).status_code


def test_access_matrix(visitors: dict[str, Visitor], migrated_database: Database) -> None:
    user_id = int(visitors["inspector"].client.headers["X-Person-Id"])
    attempt_id = int(visitors["inspector"].client.headers["X-Attempt-Id"])
    target = make_person(migrated_database, "inspector", unit=UNIT_HERE)
    failures = []
    cells = 0
    for (method, path), expected in MATRIX.items():
        for persona in PERSONAS:
            status = request(visitors[persona], method, path, user_id, target.id, attempt_id)
            cells += 1
            if status != expected[persona]:
                failures.append(f"{method} {path} as {persona}: {status}, expected {expected[persona]}")
    assert failures == [], "\n".join(failures)
    assert cells == len(MATRIX) * len(PERSONAS)
