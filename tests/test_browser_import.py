"""The admins' CSV import in a real Chromium, in Chinese, on a desk and on a phone: a GB18030
file with mistakes is listed row by row and imports nothing; the corrected file is previewed,
imported once, and the new accounts' initial passwords are shown."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Browser
from sqlalchemy import select

from tests.conftest import LiveServer, make_person
from tests.test_browser import PHONE, browser, open_page, shot  # noqa: F401 (browser is a fixture)
from tests.test_users_import import csv_text
from trainer.db import Database
from trainer.people.models import User


def test_an_admin_imports_a_chinese_excel_file_after_fixing_its_rows(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,
    migrated_database: Database,
    tmp_path: Path,
) -> None:
    admin = make_person(migrated_database, "admin", unit=None)
    tag = uuid.uuid4().hex[:6]
    unit = f"黑龙江省-{tag}/哈尔滨市/道里区/应急管理局"
    rows = [
        [f"zhao.{tag}", "赵磊", unit, "inspector", ""],
        [f"sun.{tag}", "孙丽", unit, "inspector；manager", "bad"],
    ]
    wrong, right = tmp_path / "人员名单.csv", tmp_path / "人员名单-改.csv"
    wrong.write_bytes(csv_text(rows).encode("gb18030"))
    rows[1][4] = "sun@example.org"
    right.write_bytes(csv_text(rows).encode("gb18030"))

    for name, viewport in (("desk", {"width": 1100, "height": 900}), ("phone", PHONE)):
        page, problems = open_page(browser, viewport=viewport, locale="zh-CN")
        page.goto(f"{live_server.url}/login?next=/admin/users/import")
        page.locator("#username").fill(admin.username)
        page.locator("#password").fill(admin.password)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/admin/users/import")
        assert page.locator("h1").inner_text() == "导入账号"
        page.get_by_label("CSV 文件").set_input_files(str(wrong))
        page.get_by_role("button", name="检查文件").click()
        page.wait_for_load_state()
        assert "GB18030" in page.locator("main").inner_text()
        cells = page.locator("table tbody tr td:first-child").all_inner_texts()
        assert cells == ["3"], cells  # the bad email, on its row
        assert "未导入任何账号" in page.get_by_role("alert").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        shot(page, f"import-problems-zh-{name}")
        if name == "desk":  # the refused file imported nothing
            with migrated_database.session() as db:
                assert db.scalar(select(User).where(User.username == f"zhao.{tag}")) is None
        page.get_by_role("link", name="上传改正后的文件").click()
        page.get_by_label("CSV 文件").set_input_files(str(right))
        page.get_by_role("button", name="检查文件").click()
        page.wait_for_load_state()
        actions = page.locator("table tbody tr td:last-child").all_inner_texts()
        assert actions == (["新建", "新建"] if name == "desk" else ["更新", "更新"]) or actions == ["未变"], (
            actions
        )
        page.get_by_role("button", name="导入 2 个账号").click()
        page.wait_for_load_state()
        status = page.get_by_role("status").first.inner_text()
        shot(page, f"import-done-zh-{name}")
        if name == "desk":
            assert "新建 2 个" in status
            assert page.locator("code.secret").count() == 2
        else:  # the same file again: nothing new, no passwords
            assert "未变 2 个" in status
            assert page.locator("code.secret").count() == 0
        # The problems page answers 400 (a refused form), which Chromium logs; nothing else.
        assert [p for p in problems if "status of 400" not in p] == []
        page.context.close()
    with migrated_database.session() as db:
        imported = db.scalar(select(User).where(User.username == f"sun.{tag}"))
        assert imported is not None
        assert imported.email == "sun@example.org"
