"""Issue 13's findings, one test (or a few) each, all through the real app and database."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import (
    ContentDirs,
    LiveServer,
    complete_modules,
    csrf_token,
    make_person,
    pass_exam,
    ready_for_exam,
    run_together,
    sign_in,
    token,
)
from tests.test_cli import trainer as cli
from trainer.db import Database
from trainer.people import throttle
from trainer.people.models import LoginAttempt

# -- 1. separation of duties on certificates ---------------------------------------------------


def test_nobody_acts_on_their_own_certificate(client: TestClient, migrated_database: Database) -> None:
    # An inspector who is also their district's manager, suspended by the city's manager.
    holder = make_person(migrated_database, "inspector", "manager", unit="Heilongjiang/Harbin/Daoli District")
    headers = token(client, holder)
    complete_modules(client, headers, migrated_database)
    pass_exam(client, migrated_database, headers)
    number = client.get("/api/v1/me/certificates", headers=headers).json()[0]["number"]
    url = f"/api/v1/certificates/{number}"
    assert client.post(f"{url}/suspend", headers=headers, json={"reason": "mine"}).status_code == 403
    city = token(client, make_person(migrated_database, "manager", unit="Heilongjiang/Harbin"))
    assert client.post(f"{url}/suspend", headers=city, json={"reason": "complaint"}).status_code == 200
    for action in ("reinstate", "revoke"):
        refused = client.post(f"{url}/{action}", headers=headers, json={"reason": "I disagree"})
        assert refused.status_code == 403, (action, refused.text)
    assert client.get("/api/v1/me/certificates", headers=headers).json()[0]["state"] == "suspended"
    # The same on the pages: no buttons on one's own record, and a forged form is refused.
    sign_in(client, holder)
    assert f"/certificates/{number}/action" not in client.get(f"/people/{holder.id}").text
    forged = client.post(
        f"/certificates/{number}/action",
        data={"action": "reinstate", "reason": "x", "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert client.get("/api/v1/me/certificates", headers=headers).json()[0]["state"] == "suspended"


def test_a_suspension_is_undone_only_at_or_above_the_suspenders_level(
    client: TestClient, migrated_database: Database
) -> None:
    headers, _ = ready_for_exam(client, migrated_database)  # Heilongjiang/Harbin/Daoli District/Bureau
    pass_exam(client, migrated_database, headers)
    number = client.get("/api/v1/me/certificates", headers=headers).json()[0]["number"]
    url = f"/api/v1/certificates/{number}"
    city = token(client, make_person(migrated_database, "manager", unit="Heilongjiang/Harbin"))
    district = make_person(migrated_database, "manager", unit="Heilongjiang/Harbin/Daoli District")
    province = token(client, make_person(migrated_database, "manager", unit="Heilongjiang"))
    assert client.post(f"{url}/suspend", headers=city, json={"reason": "complaint"}).status_code == 200
    district_headers = token(client, district)
    for action in ("reinstate", "revoke"):
        refused = client.post(f"{url}/{action}", headers=district_headers, json={"reason": "overrule"})
        assert refused.status_code == 403, (action, refused.text)
    # The page says so too.
    sign_in(client, district)
    page = client.post(
        f"/certificates/{number}/action",
        data={"action": "reinstate", "reason": "overrule", "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert page.status_code == 403
    assert "higher" in page.text
    # The suspender's level and above may.
    assert client.post(f"{url}/reinstate", headers=province, json={}).json()["state"] == "valid"
    # A suspension by the district may be lifted by the city above it.
    assert client.post(f"{url}/suspend", headers=district_headers, json={"reason": "x"}).status_code == 200
    assert client.post(f"{url}/reinstate", headers=city, json={}).json()["state"] == "valid"


# -- 2. parallel sign-in guesses -------------------------------------------------------------------


def test_parallel_wrong_passwords_do_not_pass_the_throttle(
    live_server: LiveServer, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")

    def guess(i: int) -> int:
        response = httpx.post(
            f"{live_server.url}/api/v1/auth/token",
            json={"username": person.username, "password": f"wrong-guess-{i}"},
            timeout=60,
        )
        return response.status_code

    statuses = run_together([lambda i=i: guess(i) for i in range(30)])
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= throttle.FREE_FAILURES, statuses  # only the free tries were checked
    with migrated_database.session() as db:
        checked = db.scalar(
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.username == person.username)
        )
    assert checked == statuses.count(401)


# -- 12. a control character in a content file -----------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "old"),
    [
        ("courses/demo-course/course.yaml", "summary: A small course"),
        ("question_bank/regulations.yaml", None),
        ("courses/demo-course/02-second.md", "regulations: [demo-law, other-rule]"),
    ],
)
def test_a_control_character_in_a_content_file_is_named_with_its_line(
    content: ContentDirs, relative: str, old: str | None
) -> None:
    path = content.courses.parent / relative
    source = path.read_text(encoding="utf-8")
    if old is None:
        lines = source.splitlines(keepends=True)
        lines[1] = lines[1].rstrip("\n") + " \x07\n"
        broken, line = "".join(lines), 2
    else:
        broken = source.replace(old, old + " \x07", 1)
        line = source[: source.index(old)].count("\n") + 1
    path.write_text(broken, encoding="utf-8")
    result = cli("check", content=content)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert f"{relative}:{line}: " in result.stdout, result.stdout
    assert "control character" in result.stdout
