"""Fuzz the JSON API with schemathesis: every operation of /openapi.json, as every role.

The schema is loaded from the app itself (`schemathesis.openapi.from_asgi`) and each operation
gets a bounded, seeded run of generated requests (valid and invalid ones) per role, with a
bearer token from POST /api/v1/auth/token. Path parameters, the `month` query and answer
bodies are often swapped for real objects (the people, units, attempts and certificate made
here), so the fuzzer reaches the code behind the 404s too. Checks: never a 5xx, every status
code documented, every response body matching its declared schema.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import select

from tests.conftest import (
    ARTIFACTS,
    Person,
    complete_modules,
    make_person,
    pass_exam,
    right_answer,
    token,
)
from trainer.db import Database, utcnow
from trainer.people.models import Unit
from trainer.sittings.models import Sitting, SittingSupervisor, SittingUnit

HERE = "Fuzz/City Here/County/Bureau"
THERE = "Fuzz/City There/County/Bureau"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))  # per operation and role
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# These end the caller's own credentials: fuzzed with an account of their own, re-signed in.
SELF_DESTRUCTIVE = {"DELETE /api/v1/auth/token", "POST /api/v1/me/password"}
FUZZ_CLIENT = "fuzz-client"  # the address the app sees: its login failures throttle nobody else
OFTEN = st.integers(0, 3).map(bool)  # three times in four
SOMETIMES = st.integers(0, 4).map(lambda n: n == 0)  # one time in five
# What careless or hostile clients send: NUL (PostgreSQL refuses it in text), other control
# characters, line breaks, and bodies in a content type the operation does not take.
NASTY = ["\x00", "a\x00b", "\x07", "\x1b[31m", "\x7f", "x\r\nSet-Cookie: a=1", "\x85"]
WRONG_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/xml"]


@dataclass
class Disposable:
    """The account the credential-ending operations run as; its token and password change."""

    person: Person
    headers: dict[str, str]
    password: str


@dataclass
class World:
    roles: dict[str, dict[str, str]]  # role -> request headers
    real: dict[str, list[Any]]  # parameter name -> values naming real objects
    answers: list[tuple[int, int, dict[str, Any]]]  # (attempt id, slot, a response that fits)
    disposable: Disposable
    mint: Callable[[Person], dict[str, str]]
    requests: int = 0
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (operation, role) -> first


def _start(client: TestClient, headers: dict[str, str], path: str) -> dict[str, Any]:
    response = client.post(path, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def build_world(client: TestClient, database: Database) -> World:
    inspector = make_person(database, "inspector", unit=HERE)
    inspector_headers = token(client, inspector)
    complete_modules(client, inspector_headers, database)  # a submitted practice attempt
    practice = _start(client, inspector_headers, "/api/v1/modules/demo-first/practice/attempts")
    exam = _start(client, inspector_headers, "/api/v1/courses/demo-course/exam/attempts")

    certified = make_person(database, "inspector", unit=HERE)
    certified_headers = token(client, certified)
    complete_modules(client, certified_headers, database)
    passed = pass_exam(client, database, certified_headers)
    certificate = client.get("/api/v1/me/certificates", headers=certified_headers).json()[0]

    people = {
        "inspector": inspector,
        "other inspector": certified,
        "trainer": make_person(database, "trainer", unit=HERE),
        "manager here": make_person(database, "manager", unit="Fuzz/City Here"),
        "manager there": make_person(database, "manager", unit="Fuzz/City There"),
        "admin": make_person(database, "admin", unit=None),
        "password change due": make_person(database, "inspector", unit=HERE, must_change_password=True),
    }
    signed_in = {"inspector": inspector_headers, "other inspector": certified_headers}
    roles = {"anonymous": {}} | {
        role: signed_in[role] if role in signed_in else token(client, person)
        for role, person in people.items()
    }
    make_person(database, "inspector", unit=THERE)  # someone for the other city's manager
    with database.session() as db:
        units = list(db.scalars(select(Unit.id).where(Unit.path.startswith("Fuzz"))))
    attempts = [exam["id"], practice["id"], passed["id"]]
    attempts += [a["id"] for a in client.get("/api/v1/me/attempts", headers=inspector_headers).json()]
    answers = [
        (attempt["id"], question["slot"], right_answer(database, attempt["id"], question["slot"]))
        for attempt in (exam, practice)
        for question in attempt["questions"]
    ]
    answers += [(exam["id"], 1, {"selected": []}), (practice["id"], 1, {"selected": ["a", "b"]})]
    disposable = make_person(database, "inspector", unit=HERE)
    sitting_id = _sitting(database, supervisor=certified)
    required = client.post(
        "/api/v1/assignments",
        headers=roles["admin"],
        json={"course_id": "demo-course", "person_id": inspector.id, "due": _due(90)},
    )
    assert required.status_code == 201, required.text
    return World(
        roles=roles,
        real={
            "attempt_id": sorted(set(attempts)),
            "slot": [q["slot"] for q in exam["questions"]],
            "course_id": ["demo-course"],
            "module_id": ["demo-first", "demo-second"],
            "code": [certificate["verification_code"]],
            "number": [certificate["number"]],
            "user_id": [p.id for p in people.values()],
            "unit_id": units,
            "month": [utcnow().strftime("%Y-%m"), "2020-01"],
            "sitting_id": [sitting_id],
            "person_id": [inspector.id, certified.id],
            "assignment_id": [required.json()["id"]],
        },
        answers=answers,
        disposable=Disposable(disposable, token(client, disposable), disposable.password),
        mint=lambda person: token(client, person),
    )


def _due(days: int) -> str:
    return (utcnow() + timedelta(days=days)).date().isoformat()


def _sitting(database: Database, *, supervisor: Person) -> int:
    """A sitting of the demo course rostering the inspectors of HERE, open now (written directly:
    the demo course's exam is taken any time, so the service would not schedule one)."""
    now = utcnow()
    with database.write() as db:
        unit = db.scalars(select(Unit).where(Unit.path == HERE)).one()
        sitting = Sitting(
            course_id="demo-course",
            opens_at=now,
            closes_at=now + timedelta(hours=2),
            late_entry_minutes=None,
            place="Fuzz room",
            access_code="ABC234",
            scope_lineage=unit.lineage,
            created_by=None,
            created_at=now,
        )
        db.add(sitting)
        db.flush()
        db.add(SittingUnit(sitting_id=sitting.id, unit_id=unit.id))
        db.add(SittingSupervisor(sitting_id=sitting.id, user_id=supervisor.id))
        return sitting.id


def _with_real_objects(case: schemathesis.Case, data: st.DataObject, world: World) -> None:
    """Often point the generated request at real objects: ids, codes, bodies that fit."""
    if case.operation.path.endswith("/answers/{slot}") and data.draw(OFTEN, label="real answer"):
        attempt_id, slot, body = data.draw(st.sampled_from(world.answers), label="answer")
        case.path_parameters = {"attempt_id": attempt_id, "slot": slot}
        case.body = body
        return
    for name in list(case.path_parameters or {}):
        if name in world.real and data.draw(OFTEN, label=f"real {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(world.real[name]), label=name)
    if (
        case.operation.path == "/api/v1/assignments"
        and case.method.upper() == "POST"
        and data.draw(OFTEN, label="real assignment")
    ):
        case.body = {
            "course_id": "demo-course",
            "unit_id": data.draw(st.sampled_from(world.real["unit_id"]), label="unit"),
            "due": _due(data.draw(st.integers(0, 400), label="due in")),
        }
    if case.operation.path.endswith("/people/{person_id}") and data.draw(OFTEN, label="real extra time"):
        case.body = {"extra_minutes": data.draw(st.integers(0, 60), label="extra minutes")}
    parameters = {p.name for p in case.operation.query}
    if "month" in parameters and data.draw(OFTEN, label="real month"):
        case.query = {**(case.query or {}), "month": data.draw(st.sampled_from(world.real["month"]))}
    if case.operation.path == "/api/v1/me/password" and data.draw(OFTEN, label="real password"):
        new = data.draw(st.sampled_from(["x", world.disposable.password, "another-long-passphrase-42"]))
        case.body = {"current_password": world.disposable.password, "new_password": new}


def _with_nasty_input(case: schemathesis.Case, data: st.DataObject) -> None:
    """Sometimes put a control character into a path parameter, the query or a body string, or
    send the body as another content type: a clear 4xx each time, never a 5xx."""
    if not data.draw(SOMETIMES, label="nasty"):
        return
    nasty = data.draw(st.sampled_from(NASTY), label="nasty value")
    places = ["query"]
    if case.path_parameters:
        places.append("path")
    if isinstance(case.body, dict):
        places += ["body", "content type"]
    place = data.draw(st.sampled_from(places), label="nasty place")
    if place == "path":
        name = data.draw(st.sampled_from(sorted(case.path_parameters or {})), label="nasty parameter")
        case.path_parameters = {**(case.path_parameters or {}), name: f"1{nasty}"}
    elif place == "query":
        names = [p.name for p in case.operation.query] or ["q"]
        name = data.draw(st.sampled_from(names), label="nasty query")
        case.query = {**(case.query or {}), name: nasty}
    elif place == "body" and isinstance(case.body, dict):
        case.body = {
            key: (value + nasty if isinstance(value, str) else value) for key, value in case.body.items()
        }
        case.body.setdefault("username", nasty)
    elif isinstance(case.body, dict):
        case.media_type = data.draw(st.sampled_from(WRONG_TYPES), label="wrong type")
        case.body = json.dumps(case.body)


def _send(case: schemathesis.Case, label: str, role: str, world: World) -> str | None:
    """The request as `role`; what the checks found wrong with the answer, if anything."""
    own = label in SELF_DESTRUCTIVE and role != "anonymous"
    headers = world.disposable.headers if own else world.roles[role]
    world.requests += 1
    try:
        response = case.call(headers=headers)
    except Exception as error:  # the app raised: its 500 never left the server middleware
        world.statuses[label][500] += 1
        return f"the app raised {error!r}\n    {case.as_curl_command(headers=headers)}"
    world.statuses[label][response.status_code] += 1
    if own and label == "DELETE /api/v1/auth/token" and response.status_code == 204:
        world.disposable.headers = world.mint(world.disposable.person)
    if own and label == "POST /api/v1/me/password" and response.status_code == 204:
        world.disposable.password = world.disposable.person.password = case.body["new_password"]
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except BaseExceptionGroup as failures:  # schemathesis's FailureGroup, with a readable message
        return str(failures)
    return None


def fuzz(operation: schemathesis.APIOperation, world: World) -> None:
    """A seeded run of generated requests (valid and invalid), each sent as every role."""
    label = f"{operation.method.upper()} {operation.path}"
    world.statuses[label] = Counter()
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @seed(zlib.crc32(label.encode()))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not raised: no shrinking
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, data=st.data())
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        _with_real_objects(case, data, world)
        _with_nasty_input(case, data)
        for role in world.roles:
            failure = _send(case, label, role, world)
            if failure is not None and (label, role) not in world.failures:
                world.failures[label, role] = failure

    run()


def test_every_operation_as_every_role(app: FastAPI, client: TestClient) -> None:
    database: Database = app.state.database
    world = build_world(client, database)

    async def from_fuzz_client(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": (FUZZ_CLIENT, 50000)}
        await app(scope, receive, send)

    schema = schemathesis.openapi.from_asgi("/openapi.json", from_fuzz_client)
    operations = [result.ok() for result in schema.get_all_operations()]
    try:
        for operation in operations:
            fuzz(operation, world)
    finally:
        schemathesis_asgi.shutdown_lifespans()

    summary = {
        "requests": world.requests,
        "operations": len(operations),
        "roles": len(world.roles),
        "role_names": list(world.roles),
        "statuses": {label: dict(sorted(c.items())) for label, c in world.statuses.items()},
        "failures": [f"{role}: {label}" for label, role in world.failures],
    }
    print(f"fuzzed {world.requests} requests over {len(operations)} operations as {len(world.roles)} roles")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fuzz-summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    assert not world.failures, "\n\n".join(
        f"--- as {role}: {label}\n{failure}" for (label, role), failure in world.failures.items()
    )
    # The real objects were reached, not only 404s.
    assert world.statuses["GET /api/v1/attempts/{attempt_id}"][200] > 0
    assert world.statuses["PUT /api/v1/attempts/{attempt_id}/answers/{slot}"][200] > 0
    assert world.statuses["GET /api/v1/verify/{code}"][200] > 0
    assert world.statuses["GET /api/v1/inspectors/{user_id}/transcript"][200] > 0
    assert world.statuses["GET /api/v1/units/{unit_id}/compliance"][200] > 0
    assert world.statuses["GET /api/v1/sittings/{sitting_id}"][200] > 0
    assert world.statuses["PUT /api/v1/sittings/{sitting_id}/people/{person_id}"][200] > 0
    assert world.statuses["POST /api/v1/assignments"][201] > 0
