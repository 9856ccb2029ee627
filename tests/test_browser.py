"""The library pages in a real Chromium: desktop, phone, keyboard, and without JavaScript.

Screenshots go to test-artifacts/ so a reviewer can see what the browser showed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.conftest import ARTIFACTS, LiveServer, make_person, serve
from trainer.app import create_app
from trainer.config import PROJECT_ROOT, Settings
from trainer.db import Database

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TRAINER_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (see README)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def sample_site(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    app: FastAPI = create_app(
        make_settings(
            None, courses_dir=PROJECT_ROOT / "courses", question_bank_dir=PROJECT_ROOT / "question_bank"
        )
    )
    with serve(app) as server:
        yield server
    app.state.database.dispose()


def open_page(browser: Browser, **options: object) -> tuple[Page, list[str]]:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_module_page_on_a_desktop(browser: Browser, sample_site: LiveServer) -> None:
    page, problems = open_page(browser, viewport={"width": 1280, "height": 900}, locale="en-US")
    page.goto(f"{sample_site.url}/courses/coal-mine-inspection/cm-methane-control")
    assert page.locator("h1").inner_text() == "Methane control at the working face"
    toc_links = page.locator("nav.toc a")
    assert toc_links.count() >= 3
    second = toc_links.nth(1)
    target = second.get_attribute("href")
    assert target is not None
    assert target.startswith("#")
    second.click()
    assert page.url.endswith(target)
    assert page.locator(f"[id='{target[1:]}']").is_visible()
    assert page.locator("img[alt]").first.evaluate("img => img.complete && img.naturalWidth > 0")
    shot(page, "module-desktop-en")
    assert problems == []  # no CSP violation, no script error, no failed load


def test_pages_fit_a_phone_screen(browser: Browser, sample_site: LiveServer) -> None:
    page, problems = open_page(browser, viewport=PHONE, is_mobile=True, locale="zh-CN")
    for path, name in [
        ("/courses", "catalogue"),
        ("/courses/fire-safety-inspection", "course"),
        ("/courses/fire-safety-inspection/fs-patrols-and-inspections", "module"),
    ]:
        page.goto(sample_site.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
        shot(page, f"{name}-phone-zh")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("article").get_attribute("lang") == "zh-CN"
    assert problems == []


def test_language_switch_works_without_javascript(browser: Browser, sample_site: LiveServer) -> None:
    page, _ = open_page(browser, java_script_enabled=False, locale="en-US")
    page.goto(f"{sample_site.url}/courses/gas-safety-inspection/gs-commercial-gas-users")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("button", name="中文").click()
    page.wait_for_load_state()
    assert page.url.endswith("/courses/gas-safety-inspection/gs-commercial-gas-users")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("article").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("button", name="English").is_visible()
    shot(page, "module-no-js-zh")


def test_keyboard_reaches_the_content_and_search(browser: Browser, sample_site: LiveServer) -> None:
    page, _ = open_page(browser, locale="en-US")
    page.goto(f"{sample_site.url}/courses")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.locator("#site-search-q").focus()
    page.keyboard.type("methane")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=methane")
    results = page.locator("ol.results > li")
    assert results.count() >= 2
    assert page.locator("ol.results mark").first.inner_text().lower() == "methane"
    shot(page, "search-en")


def test_chinese_search_in_the_browser(browser: Browser, sample_site: LiveServer) -> None:
    page, problems = open_page(browser, locale="zh-CN")
    page.goto(f"{sample_site.url}/search?q=瓦斯")
    assert page.locator("ol.results > li").count() >= 1
    assert page.locator("ol.results mark").first.inner_text() == "瓦斯"
    assert page.locator("ol.results a").first.get_attribute("lang") == "zh-CN"
    assert problems == []


def test_sign_in_and_administer_in_the_browser(
    browser: Browser, sample_site: LiveServer, migrated_database: Database
) -> None:
    admin = make_person(migrated_database, "admin", unit="Browser Province/Browser City")
    page, problems = open_page(browser, viewport=PHONE, is_mobile=True, locale="zh-CN")
    page.goto(f"{sample_site.url}/admin/users")
    assert "/login" in page.url  # sent to sign in first, and back afterwards
    page.get_by_label("用户名").fill(admin.username)
    page.get_by_label("密码").fill(admin.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/admin/users")
    assert page.locator("h1").inner_text() == "账户"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shot(page, "admin-users-phone-zh")
    page.get_by_role("link", name="新建账户").click()
    page.get_by_label("用户名").fill(f"browser-{admin.id}")
    page.get_by_label("姓名").fill("浏览器 测试")
    page.get_by_label("单位").select_option(index=1)
    page.get_by_role("button", name="保存").click()
    assert page.locator("code.secret").is_visible()  # the initial password, shown once
    shot(page, "admin-new-account-phone-zh")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/courses")
    assert page.get_by_role("link", name="登录").is_visible()
    assert problems == []


def _answer_everything(page: Page, database: Database, attempt_id: int) -> None:
    from tests.conftest import right_answer

    slots = page.eval_on_selector_all("fieldset.question", "els => els.map(e => Number(e.id.split('-')[1]))")
    for slot in slots:
        answer = right_answer(database, attempt_id, slot)
        name = f"q{slot}"
        if "selected" in answer:
            for key in answer["selected"]:  # type: ignore[union-attr]
                page.locator(f"input[name='{name}'][value='{key}']").check()
        elif "value" in answer:
            page.locator(f"#{name}-value").fill(str(answer["value"]))
        elif "text" in answer:
            page.locator(f"#{name}-text").fill(str(answer["text"]))
        elif "order" in answer:
            for position, key in enumerate(answer["order"], start=1):  # type: ignore[arg-type]
                page.locator(f"#{name}-{key}").select_option(str(position))
        elif "pairs" in answer:
            for left, right in answer["pairs"].items():  # type: ignore[union-attr]
                page.locator(f"#{name}-{left}").select_option(right)


def test_practice_and_final_exam_through_the_pages(
    browser: Browser, live_server: LiveServer, migrated_database: Database
) -> None:
    from sqlalchemy import select

    from tests.conftest import sign_in  # noqa: F401 (the browser signs in through the form below)
    from trainer.quizzes.models import Attempt, AttemptAnswer

    person = make_person(migrated_database, "inspector")
    page, problems = open_page(browser, viewport={"width": 1000, "height": 900}, locale="en-US")
    page.goto(f"{live_server.url}/login?next=/courses/demo-course/demo-first")
    page.get_by_label("Username").fill(person.username)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/courses/demo-course/demo-first")
    page.get_by_role("button", name="Start the practice quiz").click()
    page.wait_for_url("**/attempts/*")
    practice_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator("h1").inner_text() == "Practice quiz"
    _answer_everything(page, migrated_database, practice_id)
    page.get_by_role("button", name="Submit for grading").click()
    page.wait_for_url(f"**/attempts/{practice_id}")
    assert page.locator(".result .pass").inner_text() == "Passed"
    shot(page, "practice-result-en")
    page.goto(f"{live_server.url}/courses/demo-course/demo-second")  # reading the second module
    page.goto(f"{live_server.url}/courses/demo-course")
    page.get_by_role("button", name="Start or resume the final exam").click()
    page.wait_for_url("**/attempts/*")
    exam_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator("h1").inner_text() == "Final exam"
    assert page.locator("#deadline .countdown").inner_text() != ""  # the script's countdown runs
    first = page.locator("fieldset.question").first
    _answer_everything(page, migrated_database, exam_id)
    page.wait_for_timeout(1200)  # autosave runs on change
    with migrated_database.session() as db:
        saved = db.scalars(select(AttemptAnswer.slot).where(AttemptAnswer.attempt_id == exam_id)).all()
    assert saved, "autosave stored nothing"
    assert first.is_visible()
    shot(page, "exam-in-progress-en")
    page.get_by_role("button", name="Submit for grading").click()
    page.wait_for_url(f"**/attempts/{exam_id}/submit")  # the confirmation first
    page.get_by_role("button", name="Hand in").click()
    page.wait_for_url(f"**/attempts/{exam_id}")
    assert page.locator(".result .pass").inner_text() == "Passed"
    assert page.locator(".mark.right").count() >= 3  # the review shows the right answers
    shot(page, "exam-review-en")
    with migrated_database.session() as db:
        exam = db.get_one(Attempt, exam_id)
    assert exam.status == "graded"
    assert exam.score == exam.max_score
    assert problems == []


def test_a_practice_quiz_without_javascript(
    browser: Browser, live_server: LiveServer, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")
    page, _ = open_page(browser, java_script_enabled=False, viewport=PHONE, locale="zh-CN")
    page.goto(f"{live_server.url}/login?next=/courses/demo-course/demo-first")
    page.get_by_label("用户名").fill(person.username)
    page.get_by_label("密码").fill(person.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/courses/demo-course/demo-first")
    page.locator("form[action='/modules/demo-first/practice'] button").click()
    page.wait_for_url("**/attempts/*")
    attempt_id = int(page.url.rsplit("/", 1)[1])
    _answer_everything(page, migrated_database, attempt_id)
    page.locator("button[formaction]").click()
    page.wait_for_url(f"**/attempts/{attempt_id}")
    assert page.locator(".result .pass").is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shot(page, "practice-no-js-phone-zh")


def test_the_certificate_prints_to_pdf_and_its_qr_code_verifies(
    browser: Browser, live_server: LiveServer, migrated_database: Database
) -> None:
    import io

    import zxingcpp
    from PIL import Image
    from sqlalchemy import update

    from tests.conftest import pass_exam, ready_for_exam
    from trainer.certification.models import Certificate

    with TestClient(live_server.app) as client:
        headers, person = ready_for_exam(client, migrated_database)
        pass_exam(client, migrated_database, headers)
        cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    with migrated_database.write() as db:  # a Chinese name must print too
        db.execute(
            update(Certificate).where(Certificate.number == cert["number"]).values(holder_name="李明 Li Ming")
        )
    page, problems = open_page(browser, locale="zh-CN")
    page.goto(f"{live_server.url}/login?next=/certificates/{cert['number']}")
    page.get_by_label("用户名").fill(person.username)
    page.get_by_label("密码").fill(person.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**/certificates/{cert['number']}")
    assert "李明" in page.locator(".certificate-holder").inner_text()
    assert page.locator("#certificate-title").inner_text() == "示例资格"  # the title in the reader's language
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(format="A4", print_background=True)
    (ARTIFACTS / "certificate.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1  # one A4 page
    page.emulate_media(media="print")
    png = page.locator(".certificate-qr svg").screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert [code.text for code in decoded] == [f"{live_server.url}/verify/{cert['verification_code']}"]
    shot(page, "certificate-print-zh")
    page.goto(decoded[0].text)
    assert page.locator(".verification-state").inner_text() == "有效"
    assert problems == []


def test_a_manager_drills_down_and_suspends_on_a_phone_in_chinese(
    browser: Browser, live_server: LiveServer, migrated_database: Database
) -> None:
    from tests.test_compliance import _populate, _province

    province = _province()
    _populate(migrated_database, province)
    manager = make_person(migrated_database, "manager", unit=province)
    page, problems = open_page(browser, viewport=PHONE, is_mobile=True, locale="zh-CN")
    page.goto(f"{live_server.url}/login")
    page.get_by_label("用户名").fill(manager.username)
    page.get_by_label("密码").fill(manager.password)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="合规").click()
    assert page.locator("h1").inner_text() == f"合规：{province}"
    assert page.locator("figure.chart.stacked").count() == 2  # per course, per unit
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "manager-rollup-phone-zh")
    # Province -> city -> county -> unit list -> one inspector's record.
    page.get_by_role("link", name="哈尔滨市").click()
    page.get_by_role("link", name="道里区").click()
    page.get_by_role("link", name="监察一队").click()
    assert page.locator("h1").inner_text() == "检查员：监察一队"
    shot(page, "manager-list-phone-zh")
    page.locator("table a[href^='/people/']").first.click()
    assert page.locator("h2#certificates-title").is_visible()
    row = page.locator("tr", has=page.get_by_role("button", name="暂停")).first
    row.get_by_label("原因").fill("接受调查")
    row.get_by_role("button", name="暂停").click()
    assert page.get_by_text("接受调查").is_visible()
    assert page.get_by_role("button", name="恢复").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "manager-record-phone-zh")
    assert problems == []


def test_the_rollup_reads_on_a_desktop_without_javascript(
    browser: Browser, live_server: LiveServer, migrated_database: Database
) -> None:
    from tests.test_compliance import _populate, _province

    province = _province()
    _populate(migrated_database, province)
    manager = make_person(migrated_database, "manager", unit=province)
    page, problems = open_page(browser, java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill(manager.password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/manage")
    page.get_by_label("Course", exact=True).select_option("demo-course")
    page.get_by_role("button", name="Show").click()
    assert page.locator("figure.chart.stacked").nth(1).get_by_role("img").count() == 2  # one bar per city
    page.get_by_role("link", name="Expiring within 90 days").click()
    assert page.locator("table tbody tr").count() == 3
    assert page.get_by_role("searchbox").input_value() == ""  # the filters are not a site search
    shot(page, "manager-expiring-desktop-en")
    assert problems == []
