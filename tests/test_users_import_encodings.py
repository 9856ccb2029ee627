"""People CSV files as Chinese offices save them (UTF-8 with or without BOM, GB18030/GBK from
Excel in a Chinese locale, full-width input), read by `trainer users import` and by the admins'
upload page, which lists every problem by row before anything is imported."""

from __future__ import annotations

import codecs
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import ZH, csrf_token, make_person, sign_in
from tests.test_users_import import csv_text, run
from trainer.db import Database
from trainer.errors import DomainError
from trainer.people import importing
from trainer.people.models import Unit, User

HEADER = "username,full_name,unit,roles,email\n"


def chinese_rows(tag: str) -> str:
    return csv_text(
        [
            [f"wang.{tag}", "王芳", f"黑龙江省-{tag}/哈尔滨市/道里区/应急管理局", "inspector", ""],
            [f"liu.{tag}", "刘洋", f"黑龙江省-{tag}/哈尔滨市", "manager；inspector", ""],
        ]
    )


@pytest.mark.parametrize(
    ("encode", "expected"),
    [
        (lambda text: text.encode("utf-8"), importing.UTF8),
        (lambda text: codecs.BOM_UTF8 + text.encode("utf-8"), importing.UTF8_BOM),
        (lambda text: text.encode("gb18030"), importing.GB18030),
        (lambda text: text.encode("gbk"), importing.GB18030),
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "gbk"],
)
def test_every_office_encoding_reads_the_same_rows(encode, expected) -> None:  # type: ignore[no-untyped-def]
    reading = importing.read(encode(chinese_rows("t")))
    assert reading.encoding == expected
    assert reading.problems == []
    assert [(r.full_name, r.unit, r.roles) for r in reading.rows] == [
        ("王芳", "黑龙江省-t/哈尔滨市/道里区/应急管理局", ["inspector"]),
        ("刘洋", "黑龙江省-t/哈尔滨市", ["manager", "inspector"]),  # a full-width ； between roles
    ]


def test_full_width_usernames_and_emails_read_as_ascii() -> None:
    rows, problems = importing.parse(
        HEADER + "ｗａｎｇ．ｆ,王芳,省/市,ｔｒａｉｎｅｒ,ｗａｎｇ＠ｅｘａｍｐｌｅ．ｏｒｇ\n"
    )
    assert problems == []
    assert (rows[0].username, rows[0].roles, rows[0].email) == ("wang.f", ["trainer"], "wang@example.org")


def test_bytes_that_are_no_known_encoding_are_refused_with_the_position() -> None:
    with pytest.raises(DomainError) as refused:
        importing.read(HEADER.encode() + b"x,\x80\xff\xfe,,inspector,\n")
    assert refused.value.code == "import_encoding"
    assert "position" in refused.value.text()
    with pytest.raises(DomainError, match="UTF-16"):
        importing.read(codecs.BOM_UTF16_LE + HEADER.encode("utf-16-le"))


def test_the_command_says_which_encoding_it_read(
    tmp_path: Path, database_url: str, migrated_database: Database
) -> None:
    tag = uuid.uuid4().hex[:6]
    source = tmp_path / "people.csv"
    source.write_bytes(chinese_rows(tag).encode("gb18030"))
    result = run(database_url, "users", "import", str(source))
    assert result.returncode == 0, result.stderr
    assert "read as GB18030 / GBK" in result.stderr
    assert "created 2" in result.stdout
    with migrated_database.session() as db:
        user = db.scalar(select(User).where(User.username == f"wang.{tag}"))
        assert user is not None
        assert user.full_name == "王芳"
        assert (
            db.scalar(select(Unit).where(Unit.path == f"黑龙江省-{tag}/哈尔滨市/道里区/应急管理局"))
            is not None
        )


# -- the upload page ---------------------------------------------------------------------------


def _upload(client: TestClient, data: bytes, headers: dict[str, str] | None = None) -> str:
    response = client.post(
        "/admin/users/import",
        data={"csrf_token": csrf_token(client, "/admin/users/import")},
        files={"file": ("人员.csv", data, "text/csv")},
        headers=headers or {},
    )
    return f"{response.status_code}\n{response.text}"


def test_the_page_lists_every_problem_by_row_and_imports_nothing(
    client: TestClient, migrated_database: Database
) -> None:
    sign_in(client, make_person(migrated_database, "admin", unit=None))
    tag = uuid.uuid4().hex[:6]
    bad = csv_text(
        [
            [f"ok.{tag}", "好人", f"省-{tag}/市", "inspector", ""],
            [f"bad.{tag}", "坏行", f"省-{tag}/市", "inspector;wizard", "not-an-email"],
            [f"nounit.{tag}", "无单位", "", "inspector", ""],
        ]
    ).encode("gb18030")
    page = _upload(client, bad, ZH)
    assert page.startswith("400")
    assert "GB18030" in page
    cells = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", page)
    assert [row for row, _ in cells] == ["3", "3", "4"]
    assert any("电子邮件" in text or "邮箱" in text for _, text in cells), cells  # in Chinese
    assert "未导入" in page or "没有导入" in page
    with migrated_database.session() as db:
        assert db.scalars(select(User).where(User.username.like(f"%.{tag}"))).all() == []


def test_the_page_previews_then_imports_once_and_shows_the_passwords(
    client: TestClient, migrated_database: Database
) -> None:
    admin = make_person(migrated_database, "admin", unit=None)
    sign_in(client, admin)
    tag = uuid.uuid4().hex[:6]
    existing = make_person(migrated_database, "inspector")
    text = chinese_rows(tag) + f"{existing.username},改名,省-{tag}/市,inspector,\n"
    preview = _upload(client, codecs.BOM_UTF8 + text.encode("utf-8"))
    assert preview.startswith("200")
    assert "UTF-8 (with byte-order mark)" in preview
    assert preview.count(">Create<") == 2
    assert preview.count(">Update<") == 1
    with migrated_database.session() as db:  # a preview writes nothing
        assert db.scalar(select(User).where(User.username == f"wang.{tag}")) is None
    hidden = re.search(r'name="csv" value="([^"]*)"', preview)
    assert hidden is not None
    form = {
        "csrf_token": csrf_token(client, "/admin/users/import"),
        "encoding": importing.UTF8_BOM,
        "csv": hidden.group(1).replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&"),
    }
    done = client.post("/admin/users/import/confirm", data=form)
    assert done.status_code == 200
    assert "2 created, 1 updated, 0 unchanged" in done.text
    assert len(re.findall(r'<code class="secret">', done.text)) == 2
    again = client.post("/admin/users/import/confirm", data=form)  # a second click
    assert "0 created, 0 updated, 3 unchanged" in again.text
    assert '<code class="secret">' not in again.text
    with migrated_database.session() as db:
        assert db.scalars(select(User).where(User.username.like(f"%.{tag}"))).all() != []
        renamed = db.scalar(select(User).where(User.username == existing.username))
        assert renamed is not None
        assert renamed.full_name == "改名"


def test_the_page_refuses_a_form_without_a_file_or_csrf_and_non_admins(
    client: TestClient, migrated_database: Database
) -> None:
    sign_in(client, make_person(migrated_database, "manager"))
    assert client.get("/admin/users/import").status_code == 403
    client.cookies.clear()
    sign_in(client, make_person(migrated_database, "admin", unit=None))
    assert client.get("/admin/users/import").status_code == 200
    missing = client.post(
        "/admin/users/import", data={"csrf_token": csrf_token(client, "/admin/users/import")}
    )
    assert missing.status_code == 400
    assert "Choose a CSV file" in missing.text
    forged = client.post("/admin/users/import", files={"file": ("a.csv", b"x", "text/csv")})
    assert forged.status_code == 403
    tampered = client.post(
        "/admin/users/import/confirm",
        data={"csrf_token": csrf_token(client, "/admin/users/import"), "csv": "nonsense\n", "encoding": "x"},
    )
    assert tampered.status_code == 400
