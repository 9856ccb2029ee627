"""One refusal type (trainer.errors.DomainError), answered in one place: the same status on the
API and the pages, a stable code and an English message on the API, the message in the reader's
language on a page. Also: the API's role checks and its shared response models."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import csrf_token, make_person, pass_exam, ready_for_exam, right_answer, sign_in, token
from trainer.db import Database
from trainer.errors import DomainError

ZH = {"Accept-Language": "zh-CN"}


def test_a_domain_error_fills_its_placeholders_and_keeps_its_extras() -> None:
    error = DomainError(403, "attempts_used", "all %(max_attempts)s attempts are used", max_attempts=2)
    assert error.text() == "all 2 attempts are used"
    assert error.text(lambda msgid: "已用完 %(max_attempts)s 次") == "已用完 2 次"
    assert error.body() == {"message": "all 2 attempts are used", "code": "attempts_used", "max_attempts": 2}
    assert error.problems == ["all %(max_attempts)s attempts are used"]
    assert error.headers() is None
    assert DomainError(403, "retake_later", "later", retry_after=60).headers() == {"Retry-After": "60"}


def test_api_refusals_carry_status_code_message_and_extras(
    client: TestClient, migrated_database: Database
) -> None:
    headers = token(client, make_person(migrated_database, "inspector"))
    missing = client.post("/api/v1/modules/no-such-module/practice/attempts", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": {"message": "no practice quiz for this module", "code": "no_such_practice"}
    }
    # Before the modules are done, the exam says which are missing.
    early = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert early.status_code == 403
    assert early.json()["detail"]["code"] == "modules_incomplete"
    assert early.json()["detail"]["missing_modules"] == ["demo-first", "demo-second"]
    assert early.json()["detail"]["message"].startswith("complete every module first")
    # A graded attempt takes no more answers.
    practice = client.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
    client.post(f"/api/v1/attempts/{practice['id']}/submit", headers=headers)
    slot = practice["questions"][0]["slot"]
    closed = client.put(
        f"/api/v1/attempts/{practice['id']}/answers/{slot}",
        headers=headers,
        json=right_answer(migrated_database, practice["id"], slot),
    )
    assert closed.status_code == 409
    assert closed.json() == {"detail": {"message": "this attempt is closed", "code": "attempt_closed"}}
    other = token(client, make_person(migrated_database, "inspector"))
    hidden = client.get(f"/api/v1/attempts/{practice['id']}", headers=other)
    assert hidden.status_code == 404
    assert hidden.json()["detail"]["code"] == "no_such_attempt"


def test_a_failed_exam_refuses_a_retake_with_retry_after(
    client: TestClient, migrated_database: Database
) -> None:
    headers, _ = ready_for_exam(client, migrated_database)
    exam = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    assert client.post(f"/api/v1/attempts/{exam['id']}/submit", headers=headers).json()["passed"] is False
    again = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert again.status_code == 403
    detail = again.json()["detail"]
    assert detail["code"] == "retake_later"
    assert detail["message"] == "a retake is allowed later"
    assert 0 < detail["retry_after"] <= 24 * 3600
    assert again.headers["Retry-After"] == str(detail["retry_after"])


def test_a_page_refusal_shows_the_message_in_the_readers_language(
    client: TestClient, migrated_database: Database
) -> None:
    sign_in(client, make_person(migrated_database, "inspector"))
    form = {"csrf_token": csrf_token(client)}
    english = client.post("/modules/no-such-module/practice", data=form, follow_redirects=False)
    assert english.status_code == 404
    assert "no practice quiz for this module" in english.text
    chinese = client.post("/modules/no-such-module/practice", data=form, headers=ZH, follow_redirects=False)
    assert chinese.status_code == 404
    assert "此模块没有练习测验" in chinese.text
    assert "no practice quiz" not in chinese.text


def test_a_refused_certificate_action_is_the_same_refusal_on_api_and_page(
    client: TestClient, migrated_database: Database
) -> None:
    headers, _ = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    number = client.get("/api/v1/me/certificates", headers=headers).json()[0]["number"]
    manager = make_person(migrated_database, "manager", unit="Heilongjiang/Harbin")
    api = client.post(f"/api/v1/certificates/{number}/reinstate", headers=token(client, manager), json={})
    assert api.status_code == 409
    assert api.json() == {
        "detail": {"message": "Only a suspended certificate can be reinstated.", "code": "not_suspended"}
    }
    sign_in(client, manager)
    back = f"/people/{manager.id}"
    form = {"action": "reinstate", "next": back, "csrf_token": csrf_token(client)}
    page = client.post(f"/certificates/{number}/action", data=form, headers=ZH, follow_redirects=False)
    assert page.status_code == 409
    assert "只有已暂停的证书可以恢复。" in page.text
    assert f'href="{back}"' in page.text  # back to where the form was
    english = client.post(f"/certificates/{number}/action", data=form, follow_redirects=False)
    assert english.status_code == 409
    assert "Only a suspended certificate can be reinstated." in english.text


def test_the_password_change_api_names_every_problem(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    wrong = client.post(
        "/api/v1/me/password",
        headers=token(client, person),
        json={"current_password": "not-the-password", "new_password": "a-long-enough-new-one"},
    )
    assert wrong.status_code == 400
    assert wrong.json() == {
        "detail": {"message": "The current password is not right.", "code": "wrong_password"}
    }


def test_manager_only_api_routes_refuse_everyone_else_the_same_way(
    client: TestClient, migrated_database: Database
) -> None:
    inspector = make_person(migrated_database, "inspector")
    headers = token(client, inspector)
    for method, path in (
        ("GET", "/api/v1/units/1/compliance"),
        ("GET", f"/api/v1/inspectors/{inspector.id}/certificates"),
        ("POST", "/api/v1/certificates/HLJ-NONE/suspend"),
    ):
        refused = client.request(method, path, headers=headers, json={"reason": "x"})
        assert refused.status_code == 403, (method, path)
        assert refused.json() == {"detail": "managers only"}
    assert client.get("/api/v1/units/1/compliance").status_code == 401


def test_the_openapi_schema_publishes_each_shared_model_once_under_a_clean_name(app: FastAPI) -> None:
    with TestClient(app) as client:
        components = client.get("/openapi.json").json()["components"]["schemas"]
    assert [name for name in components if "__" in name] == []
    for model in ("AttemptRow", "AttemptOut", "CertificateOut", "UnitOut", "Problem", "Message"):
        assert model in components
        # No second declaration under another name (FastAPI would add a module prefix or suffix).
        assert [name for name in components if name != model and name.endswith(model)] == [], model
    for retired in ("AttemptSummary", "ResultOut", "Problems"):
        assert retired not in components
    # The attempt row is the base of the full attempt: the same fields, in one declaration.
    row = set(components["AttemptRow"]["properties"])
    assert row <= set(components["AttemptOut"]["properties"])
