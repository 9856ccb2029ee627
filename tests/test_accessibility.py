"""Accessibility in a real Chromium: an axe-core audit of every main page, filled with real data,
for every role, in English and Chinese, on a desktop and a phone; and a final exam taken with the
keyboard alone.

Every violation axe reports goes to test-artifacts/axe-report.json with its page; the audit fails
on any of them, whatever its impact (a "moderate" landmark-unique, two table regions with one name,
went unnoticed while only "serious" and "critical" failed). axe-core comes from npm (package.json at the
root; `make test` runs `npm ci` when node_modules/ lacks it).
"""

from __future__ import annotations

import fcntl
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from tests.conftest import (
    ARTIFACTS,
    LiveServer,
    Person,
    make_person,
    pass_exam,
    ready_for_exam,
    right_answer,
)
from tests.test_browser import PHONE, browser, open_page, sample_site, shot  # noqa: F401 (fixtures)
from trainer.config import PROJECT_ROOT
from trainer.db import Database

pytestmark = pytest.mark.browser

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "resultTypes": ["violations"],
}
IMPACTS = ("critical", "serious", "moderate", "minor")
DESKTOP = {"width": 1280, "height": 900}
ZH_CN = "zh-CN"
NARROW = {"width": 360, "height": 780}
# The usual two looks of a role's pages: English on a desktop, Chinese on a phone.
EN_AND_ZH_PHONE = [("en-US", DESKTOP, "en"), (ZH_CN, PHONE, "zh-CN phone")]
# Pages with several tables: both languages, on a desktop and at 360 px.
EVERY_VIEW = [
    ("en-US", DESKTOP, "en"),
    (ZH_CN, DESKTOP, "zh-CN"),
    ("en-US", NARROW, "en 360"),
    (ZH_CN, NARROW, "zh-CN 360"),
]


# The innermost elements reaching past the window's right edge, outside a table region (which
# scrolls by design): what makes a page scroll sideways.
WIDER_THAN_THE_WINDOW = """() => {
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".table-scroll") || el.getBoundingClientRect().right <= window.innerWidth + 1) continue;
    if ([...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1)) continue;
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
    found.push(`${name}: ${el.textContent.trim().slice(0, 80)}`);
  }
  return found.slice(0, 5);
}"""


@dataclass
class Audit:
    """The pages one test audited (one role), and every violation axe found on them."""

    group: str
    pages: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    # Pages wider than their window (the reader must scroll the whole page sideways): label,
    # pixels, and the innermost elements that stick out (outside any scrolling table region).
    overflowing: list[tuple[str, int, list[str]]] = field(default_factory=list)

    def run(self, page: Page, label: str) -> None:
        """Audit the page as it is now; `label` names it (path, language, viewport)."""
        label = f"{self.group} {label}"
        page.wait_for_load_state("load")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
        self.pages.append(label)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            self.overflowing.append((label, overflow, page.evaluate(WIDER_THAN_THE_WINDOW)))
        for violation in result["violations"]:
            self.violations.append(
                {
                    "page": label,
                    "url": page.url,
                    "rule": violation["id"],
                    "impact": violation["impact"],
                    "help": violation["help"],
                    "helpUrl": violation["helpUrl"],
                    "nodes": [
                        {
                            "target": node["target"],
                            "html": node["html"],
                            "summary": node.get("failureSummary"),
                        }
                        for node in violation["nodes"]
                    ],
                }
            )

    def visit(
        self,
        chromium: Browser,
        url: str,
        person: Person | None,
        paths: list[tuple[str, str]],
        views: list[tuple[str, dict[str, int], str]],
        *,
        note: str = "",
    ) -> None:
        """Audit each (path, label) on `url` as `person`, once per (locale, viewport, tag)."""
        for locale, viewport, tag in views:
            page = signed_in(chromium, url, person, locale=locale, viewport=viewport)
            for path, label in paths:
                page.goto(url + path)
                self.run(page, f"{label}{note} [{tag}]")
            page.context.close()

    def save(self) -> str:
        """Merge this group into test-artifacts/axe-report.json (the tests may run in parallel
        workers, hence the lock; a group run again replaces its earlier entries) and return the
        summary line of the whole report."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / "axe-report.json"
        with (ARTIFACTS / "axe-report.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                groups = json.loads(path.read_text(encoding="utf-8"))["groups"] if path.exists() else {}
            except (ValueError, KeyError):
                groups = {}
            groups[self.group] = {
                "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "pages": self.pages,
                "violations": self.violations,
            }
            pages = [p for g in groups.values() for p in g["pages"]]
            violations = [v for g in groups.values() for v in g["violations"]]
            counted = Counter(v["impact"] for v in violations)
            counts = {impact: counted.get(impact, 0) for impact in IMPACTS}
            summary = (
                f"axe-core {axe_version()}: {len(pages)} pages audited, "
                f"{counts['critical'] + counts['serious']} serious/critical, "
                f"{counts['moderate'] + counts['minor']} moderate/minor ("
                + ", ".join(f"{impact} {count}" for impact, count in counts.items())
                + ")"
            )
            report = {
                "summary": summary,
                "counts": counts,
                "options": AXE_OPTIONS,
                "pages": pages,
                "violations": violations,
                "groups": groups,
            }
            path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        return summary

    def finish(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Save, print the summary (past pytest's capture), and fail on any violation at all."""
        summary = self.save()
        with capsys.disabled():
            print(f"\n[{self.group}] {summary}; report: test-artifacts/axe-report.json")
        found = [
            f"{v['page']}: {v['impact']} {v['rule']} ({v['help']}) at "
            + "; ".join(" ".join(map(str, n["target"])) for n in v["nodes"])
            for v in self.violations
        ]
        assert not found, "\n".join(found)  # none at all, whatever the impact
        # Nor a page wider than its window (a phone's 360 px included): wide tables scroll inside
        # their own region, long words wrap.
        assert not self.overflowing, self.overflowing


def axe_version() -> str:
    package = AXE.parent / "package.json"
    return str(json.loads(package.read_text(encoding="utf-8"))["version"])


@pytest.fixture(scope="module", autouse=True)
def _axe_installed() -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(PROJECT_ROOT)} is missing: run `npm ci` (or `make browser`)")


def signed_in(chromium: Browser, url: str, person: Person | None, **options: Any) -> Page:
    """A fresh context (the CSP bypassed so axe can be injected), signed in through the form."""
    page, _ = open_page(chromium, bypass_csp=True, **options)
    if person is not None:
        page.goto(f"{url}/login")
        page.locator("#username").fill(person.username)
        page.locator("#password").fill(person.password)
        page.locator("form.stacked-form button[type=submit]").click()
        page.wait_for_url(lambda current: "/login" not in current)
    return page


def unit_id(database: Database, path: str) -> int:
    from trainer.people.models import Unit

    with database.session() as db:
        return db.scalars(select(Unit.id).where(Unit.path == path)).one()


def answer_everything(page: Page, database: Database, attempt_id: int) -> None:
    """Fill the open attempt page with the right answers (by the mouse-free Playwright API)."""
    slots = page.eval_on_selector_all("fieldset.question", "els => els.map(e => Number(e.id.split('-')[1]))")
    for slot in slots:
        answer_one(page, database, attempt_id, slot)


def answer_one(page: Page, database: Database, attempt_id: int, slot: int) -> None:
    """Give one question its right answer on the open attempt page."""
    answer: dict[str, Any] = right_answer(database, attempt_id, slot)
    name = f"q{slot}"
    if "selected" in answer:
        for key in answer["selected"]:
            page.locator(f"input[name='{name}'][value='{key}']").check()
    elif "value" in answer:
        page.locator(f"#{name}-value").fill(str(answer["value"]))
    elif "text" in answer:
        page.locator(f"#{name}-text").fill(str(answer["text"]))
    elif "order" in answer:
        for position, key in enumerate(answer["order"], start=1):
            page.locator(f"#{name}-{key}").select_option(str(position))
    elif "pairs" in answer:
        for left, right in answer["pairs"].items():
            page.locator(f"#{name}-{left}").select_option(right)


@pytest.fixture
def certified(live_server: LiveServer, migrated_database: Database) -> tuple[Person, dict[str, Any]]:
    """An inspector who passed the demo course's final exam, and the certificate."""
    with TestClient(live_server.app) as client:
        headers, person = ready_for_exam(client, migrated_database)
        pass_exam(client, migrated_database, headers)
        certificate = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    return person, certificate


def test_anonymous_pages_pass_axe(
    browser: Browser,  # noqa: F811 (the fixtures imported above)
    sample_site: LiveServer,  # noqa: F811
    live_server: LiveServer,
    certified: tuple[Person, dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    audit = Audit("anonymous")
    code = certified[1]["verification_code"]
    for locale, viewport, tag in EN_AND_ZH_PHONE:
        page = signed_in(browser, sample_site.url, None, locale=locale, viewport=viewport)
        for path in [  # the sample library: richer modules (tables, admonitions, figures)
            "/courses",
            "/courses/coal-mine-inspection",
            "/courses/coal-mine-inspection/cm-methane-control",
            "/courses/fire-safety-inspection/fs-patrols-and-inspections",
            "/search?q=methane" if tag == "en" else "/search?q=瓦斯",
            "/login",
        ]:
            page.goto(sample_site.url + path)
            audit.run(page, f"{path} [{tag}]")
        for path in ["/verify", f"/verify/{code}", "/courses/demo-course"]:  # a real certificate
            page.goto(live_server.url + path)
            audit.run(page, f"{path.replace(code, '<code>')} [{tag}]")
        page.context.close()
    audit.finish(capsys)


def test_inspector_pages_pass_axe(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,
    migrated_database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from trainer.quizzes.models import Attempt

    audit = Audit("inspector")
    url = live_server.url
    with TestClient(live_server.app) as client:
        headers, inspector = ready_for_exam(client, migrated_database)
    # Before the exam: dashboard, results, course, module, a practice quiz.
    for locale, tag in [("en-US", "en"), (ZH_CN, "zh-CN")]:
        page = signed_in(browser, url, inspector, locale=locale, viewport=DESKTOP)
        for path in ["/dashboard", "/me/results", "/courses/demo-course", "/courses/demo-course/demo-first"]:
            page.goto(url + path)
            audit.run(page, f"{path} [{tag}]")
        page.locator("form[action='/modules/demo-first/practice'] button").click()
        page.wait_for_url("**/attempts/*")
        audit.run(page, f"/attempts/<practice> [{tag}]")
        # One question checked: its feedback in place, read-only.
        practice_id = int(page.url.rsplit("/", 1)[1])
        first = page.locator("fieldset.question").first
        slot = int((first.get_attribute("id") or "").split("-")[1])
        answer_one(page, migrated_database, practice_id, slot)
        first.locator("button[name=check]").click()
        page.locator(f"#verdict-{slot}").wait_for()
        audit.run(page, f"/attempts/<practice> feedback [{tag}]")
        page.context.close()
    # The exam in progress (three ways), then its review after submitting.
    page = signed_in(browser, url, inspector, locale="en-US", viewport=DESKTOP)
    page.goto(f"{url}/courses/demo-course")
    page.locator("form[action='/courses/demo-course/exam'] button").click()
    page.wait_for_url("**/attempts/*")
    exam_id = int(page.url.rsplit("/", 1)[1])
    audit.run(page, "/attempts/<exam> [en]")
    for locale, viewport, tag in [(ZH_CN, DESKTOP, "zh-CN"), ("en-US", PHONE, "en phone")]:
        other = signed_in(browser, url, inspector, locale=locale, viewport=viewport)
        other.goto(f"{url}/attempts/{exam_id}")
        audit.run(other, f"/attempts/<exam> [{tag}]")
        other.context.close()
    # A question flagged: the navigator and the button say so.
    page.locator("fieldset.question button[name=flag]").first.click()
    page.locator("fieldset.question button[name=flag][aria-pressed=true]").wait_for()
    audit.run(page, "/attempts/<exam> flagged [en]")
    answer_everything(page, migrated_database, exam_id)
    page.locator("button[formaction$='/submit']").click()
    page.wait_for_url(f"**/attempts/{exam_id}/submit")
    audit.run(page, "/attempts/<exam>/submit confirmation [en]")
    for locale, viewport, tag in [(ZH_CN, PHONE, "zh-CN phone")]:
        other = signed_in(browser, url, inspector, locale=locale, viewport=viewport)
        other.goto(f"{url}/attempts/{exam_id}/submit")
        audit.run(other, f"/attempts/<exam>/submit confirmation [{tag}]")
        other.context.close()
    page.locator("form[action$='/submit'] button").click()
    page.wait_for_url(f"**/attempts/{exam_id}")
    assert page.locator(".result .pass").is_visible()
    audit.run(page, "/attempts/<exam> review [en]")
    page.context.close()
    with migrated_database.session() as db:
        assert db.get_one(Attempt, exam_id).status == "graded"
    with TestClient(live_server.app) as client:
        number = client.get("/api/v1/me/certificates", headers=headers).json()[0]["number"]
    # After: the review, the certificate, the dashboard and results with a certificate.
    paths = [f"/attempts/{exam_id}", f"/certificates/{number}", "/dashboard"]
    labelled = [(p, p.replace(str(exam_id), "<exam>").replace(number, "<number>")) for p in paths]
    audit.visit(browser, url, inspector, labelled, EN_AND_ZH_PHONE, note=" after the exam")
    # Results with an exam taken: a table per course and the mastery table, each its own region.
    audit.visit(browser, url, inspector, [("/me/results", "/me/results")], EVERY_VIEW, note=" after the exam")
    audit.finish(capsys)


def test_manager_pages_pass_axe(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,
    migrated_database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.test_compliance import _populate, _province

    audit = Audit("manager")
    province = _province()
    people = _populate(migrated_database, province)  # every certificate state, in three units
    city = unit_id(migrated_database, f"{province}/哈尔滨市")
    team = unit_id(migrated_database, f"{province}/哈尔滨市/道里区/监察一队")
    manager = make_person(migrated_database, "manager", unit=province)
    record = people["a1"][0]  # certified
    paths = [
        ("/manage", "/manage"),
        (f"/manage?unit={city}&course=demo-course", "/manage?unit=<city>&course=demo-course"),
        (f"/manage/inspectors?unit={team}&state=valid", "/manage/inspectors?unit=<unit>&state=valid"),
        (f"/manage/inspectors?unit={city}&state=expiring", "/manage/inspectors?unit=<city>&state=expiring"),
    ]
    views = [("en-US", DESKTOP, "en"), (ZH_CN, DESKTOP, "zh-CN"), (ZH_CN, PHONE, "zh-CN phone")]
    audit.visit(browser, live_server.url, manager, paths, views)
    # A person's page: certificates, courses, attempts and audit events, four tables.
    person = [(f"/people/{record.id}", "/people/<certified inspector>")]
    audit.visit(browser, live_server.url, manager, person, EVERY_VIEW)
    audit.finish(capsys)


def test_trainer_pages_pass_axe(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,
    migrated_database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.test_trainer_reports import several_exams

    audit = Audit("trainer")
    with TestClient(live_server.app) as client:
        several_exams(client, migrated_database)  # right, wrong and blank answers: real statistics
    trainer = make_person(migrated_database, "trainer", unit=None)
    paths = [
        "/trainer/items",
        "/trainer/items?course=demo-course&sort=facility",
        "/trainer/items/DEMO-0001?course=demo-course",
        "/trainer/tags",
    ]
    audit.visit(browser, live_server.url, trainer, [(p, p) for p in paths], EN_AND_ZH_PHONE)
    # Content status: a blueprint table per course, a grid per domain, the translations table.
    audit.visit(browser, live_server.url, trainer, [("/trainer/content", "/trainer/content")], EVERY_VIEW)
    audit.finish(capsys)


def test_admin_pages_pass_axe(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,
    migrated_database: Database,
    certified: tuple[Person, dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    audit = Audit("admin")
    admin = make_person(migrated_database, "admin")
    user = certified[0].id
    paths = [
        "/admin",
        "/admin/users",
        "/admin/units",
        "/admin/audit",
        f"/admin/users/{user}",
        "/admin/users/new",
        "/admin/users/import",
        "/account/password",
    ]
    labelled = [(p, p.replace(str(user), "<user>")) for p in paths]
    audit.visit(browser, live_server.url, admin, labelled, EN_AND_ZH_PHONE)
    # The import's later stages are reached by uploading a file: its preview (a good file, in
    # Chinese) and its problems (a row naming an unknown role).
    tag = uuid.uuid4().hex[:6]
    header = "username,full_name,unit,roles,email\n"
    files = {
        "preview": f"{header}wang.{tag},王芳,Axe Province {tag}/Harbin,inspector,\n",
        "problems": f"{header}zhao.{tag},赵磊,Axe Province {tag},wizard,\n",
    }
    upload = 'form[action="/admin/users/import"]'
    reached = {"preview": 'form[action="/admin/users/import/confirm"]', "problems": "div.alert[role=alert]"}
    for locale, viewport, view in EN_AND_ZH_PHONE:
        page = signed_in(browser, live_server.url, admin, locale=locale, viewport=viewport)
        for stage, text in files.items():
            page.goto(live_server.url + "/admin/users/import")
            csv_file = {"name": "people.csv", "mimeType": "text/csv", "buffer": text.encode()}
            page.set_input_files("#file", csv_file)
            page.locator(f"{upload} button[type=submit]").click()
            page.wait_for_load_state("load")
            assert page.locator(reached[stage]).count() == 1, (stage, page.content()[:2000])
            audit.run(page, f"/admin/users/import {stage} [{view}]")
        page.context.close()
    audit.finish(capsys)


# -- the final exam with the keyboard alone -------------------------------------------------------

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), type: el.type || "", name: el.name || "", id: el.id || "",
    value: el.value === undefined ? "" : String(el.value), checked: !!el.checked,
    formaction: el.getAttribute("formaction") || "", text: (el.textContent || "").trim(),
    outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0,
    boxShadow: style.boxShadow,
  };
}"""


def focused(page: Page) -> dict[str, Any]:
    return page.evaluate(FOCUSED)  # type: ignore[no-any-return]


def assert_focus_visible(page: Page, where: str) -> None:
    """The focused element shows a focus indicator (an outline, or failing that a box shadow)."""
    state = focused(page)
    visible = (state["outline"] != "none" and state["outlineWidth"] > 0) or state["boxShadow"] != "none"
    assert visible, f"no visible focus indicator on {state['tag']}#{state['id']} ({where}): {state}"


def tab_to(page: Page, matches: Any, what: str, limit: int = 80) -> dict[str, Any]:
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = focused(page)
        if matches(state):
            return state
    raise AssertionError(f"Tab never reached {what}")


def choose_radio(page: Page, state: dict[str, Any], key: str) -> None:
    """Arrow keys move through a radio group, checking as they go; Space checks the first stop."""
    for _ in range(12):
        if state["value"] == key:
            break
        page.keyboard.press("ArrowDown")
        state = focused(page)
    assert state["value"] == key, state
    if not state["checked"]:
        page.keyboard.press("Space")
    assert focused(page)["checked"]


def choose_option(page: Page, value: str) -> None:
    """A closed <select>: ArrowDown steps to the next option (Home back to the first)."""
    page.keyboard.press("Home")
    for _ in range(30):
        if focused(page)["value"] == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"option {value!r} not reached: {focused(page)}")


def test_an_inspector_takes_the_final_exam_with_the_keyboard_only(
    browser: Browser,  # noqa: F811 (the fixture imported above)
    live_server: LiveServer,
    migrated_database: Database,
) -> None:
    from trainer.quizzes.models import Attempt

    database = migrated_database
    with TestClient(live_server.app) as client:
        _, person = ready_for_exam(client, database)
    page, problems = open_page(browser, viewport=DESKTOP, locale="en-US")

    # Sign in: the skip link, then the two fields, then Enter submits the form.
    page.goto(f"{live_server.url}/login?next=/courses/demo-course")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to main content"
    assert_focus_visible(page, "skip link")
    page.keyboard.press("Enter")
    tab_to(page, lambda s: s["id"] == "username", "the username field")
    assert_focus_visible(page, "username field")
    page.keyboard.type(person.username)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "password"
    page.keyboard.type(person.password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/courses/demo-course")

    # Start the exam from the course page.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    tab_to(page, lambda s: s["tag"] == "button" and s["text"] == "Start or resume the final exam", "Start")
    assert_focus_visible(page, "start button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/attempts/*")
    exam_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator("h1").inner_text() == "Final exam"
    slots = page.eval_on_selector_all("fieldset.question", "els => els.map(e => Number(e.id.split('-')[1]))")
    answers: dict[str, dict[str, Any]] = {f"q{slot}": right_answer(database, exam_id, slot) for slot in slots}
    assert answers

    # Tab through the form once, answering each control as focus reaches it, up to Submit.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link, to <main>
    done: set[str] = set()
    for _ in range(200):
        page.keyboard.press("Tab")
        state = focused(page)
        if state["formaction"].endswith("/submit"):
            break
        name = state["name"] or ""
        slot_name = name.split("-")[0]
        answer = answers.get(slot_name)
        if answer is None:
            continue
        if state["type"] == "radio":
            choose_radio(page, state, answer["selected"][0])
            assert_focus_visible(page, f"radio in {slot_name}")
        elif state["type"] == "checkbox":
            if (state["value"] in answer["selected"]) != state["checked"]:
                page.keyboard.press("Space")
            assert_focus_visible(page, f"checkbox in {slot_name}")
        elif name.endswith("-value"):
            page.keyboard.type(str(answer["value"]))
        elif name.endswith("-text"):
            page.keyboard.type(str(answer["text"]))
        elif name.endswith("-unit"):
            pass  # the unit's default is the expected one
        elif "order" in answer:
            key = name.split("-", 1)[1]
            choose_option(page, str(answer["order"].index(key) + 1))
            assert_focus_visible(page, f"select in {slot_name}")
        elif "pairs" in answer:
            key = name.split("-", 1)[1]
            choose_option(page, answer["pairs"][key])
            assert_focus_visible(page, f"select in {slot_name}")
        done.add(slot_name)
    else:
        raise AssertionError("Tab never reached Submit for grading")
    assert done == set(answers), f"answered {sorted(done)} of {sorted(answers)}"
    assert_focus_visible(page, "submit button")
    shot(page, "exam-keyboard-before-submit-en")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/attempts/{exam_id}/submit")  # the confirmation, then "Hand in"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link, to <main>
    tab_to(page, lambda s: s["tag"] == "button" and s["text"] == "Hand in", "Hand in")
    assert_focus_visible(page, "hand-in button")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/attempts/{exam_id}")
    assert page.locator(".result .pass").inner_text() == "Passed"
    shot(page, "exam-keyboard-result-en")
    with database.session() as db:
        exam = db.get_one(Attempt, exam_id)
    assert exam.status == "graded"
    assert exam.score == exam.max_score
    # Arrow keys on a closed <select> change it at once, so an order question passes through
    # positions given twice while it is numbered: autosave leaves it unsaved, without an error.
    assert problems == []


def test_exam_taking_pages_pass_axe(
    browser: Browser,  # noqa: F811
    make_settings: Any,
    content: Any,
    migrated_database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The exam-taking states on the one-minute course (tests/exam_content.py), each in English
    on a desktop and Chinese on a phone: a refused answer beside its field, a flagged question,
    the confirmation page, the result after the time was up, and practice feedback in place."""
    from sqlalchemy import update

    from tests.conftest import serve
    from tests.exam_content import add_exam_course, slot_of
    from trainer.app import create_app
    from trainer.db import utcnow
    from trainer.quizzes.models import Attempt

    add_exam_course(content)
    app = create_app(make_settings(content))
    audit = Audit("exam taking")
    database = migrated_database
    with serve(app) as server:
        url = server.url
        for locale, viewport, tag in EN_AND_ZH_PHONE:
            inspector = make_person(database, "inspector")
            page = signed_in(browser, url, inspector, locale=locale, viewport=viewport)
            page.goto(f"{url}/courses/ux-course")
            page.locator("form[action='/courses/ux-course/exam'] button").click()
            page.wait_for_url("**/attempts/*")
            exam_id = int(page.url.rsplit("/", 1)[1])
            with database.write() as db:  # the one-minute exam, given time for the audit
                db.execute(
                    update(Attempt)
                    .where(Attempt.id == exam_id)
                    .values(deadline=utcnow() + timedelta(minutes=30))
                )
            page.reload()
            percent = slot_of(database, exam_id, "UX-0001")
            page.locator(f"#question-{slot_of(database, exam_id, 'UX-0005')} button[name=flag]").click()
            page.locator("button[name=flag][aria-pressed=true]").wait_for()
            page.locator(f"#q{percent}-value").fill("abc")
            page.locator(".quiz-actions button").first.click()
            page.locator(f"#error-{percent}").wait_for()
            audit.run(page, f"/attempts/<exam> refused and flagged [{tag}]")
            page.locator(f"#q{percent}-value").fill("0.5%")
            page.locator("button[formaction$='/submit']").click()
            page.wait_for_url(f"**/attempts/{exam_id}/submit")
            audit.run(page, f"/attempts/<exam>/submit confirmation [{tag}]")
            with database.write() as db:  # the time runs out; the server closes it on the next view
                db.execute(
                    update(Attempt)
                    .where(Attempt.id == exam_id)
                    .values(deadline=utcnow() - timedelta(minutes=2))
                )
            page.goto(f"{url}/attempts/{exam_id}")
            page.locator(".time-up").wait_for()
            audit.run(page, f"/attempts/<exam> time up [{tag}]")
            page.goto(f"{url}/courses/ux-course/ux-module")
            page.locator("form[action='/modules/ux-module/practice'] button").click()
            page.wait_for_url("**/attempts/*")
            practice_id = int(page.url.rsplit("/", 1)[1])
            slot = slot_of(database, practice_id, "UX-0006")
            page.locator(f"#q{slot}-text").fill("SDS")
            page.locator(f"#question-{slot} button[name=check]").click()
            page.locator(f"#verdict-{slot}").wait_for()
            audit.run(page, f"/attempts/<practice> feedback [{tag}]")
            page.context.close()
    app.state.database.dispose()
    audit.finish(capsys)


# -- authoring: course and question-file drafts and their forms (issue 18) -----------------------


@pytest.mark.xdist_group("content_versions")  # drafts and a published version, as tests/test_authoring.py
def test_course_and_question_file_authoring_pages_pass_axe(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,
    migrated_database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bank file's draft with its preview, every kind of question form, a scenario group's (and
    a new group's), a translation's (with unit labels), a course draft with its blueprint counts,
    its translation's form, and a file's History (with one
    version): no violation at all, of any impact, as the module authoring pages (test_browser_
    authoring.py); in English and Chinese, on a desktop and at 360 px."""
    from sqlalchemy import delete, update

    from tests.conftest import sign_in
    from tests.test_authoring import post
    from tests.test_authoring_files import BANK, COURSE, approve, start_file, textarea
    from trainer.content.models import ContentDraft, ContentGeneration, ContentVersion, DraftEvent

    audit = Audit("authoring files")
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    try:
        with TestClient(live_server.app) as a, TestClient(live_server.app) as b:
            sign_in(a, author)
            sign_in(b, reviewer)
            # One version published, for History to list.
            published = start_file(a, BANK)
            post(
                a,
                f"/trainer/authoring/drafts/{published}",
                {"text": textarea(a, published), "action": "submit"},
            )
            approve(b, published)
            bank = start_file(a, BANK)
            translation = start_file(a, "question_bank/demo/ventilation.zh-CN.yaml")
            course = start_file(a, COURSE)
            # A course draft with an unfillable row: the count shown short, and its problem.
            broken = textarea(a, course).replace("count: 3}", "count: 30}")
            post(a, f"/trainer/authoring/drafts/{course}", {"text": broken, "action": "save"})
        drafts = "/trainer/authoring/drafts"
        paths = [
            (f"{drafts}/{bank}", "bank draft (preview)"),
            *(
                (f"{drafts}/{bank}/question?id={qid}", f"question form {qid} ({kind})")
                for qid, kind in [
                    ("DEMO-0001", "single"),
                    ("DEMO-0002", "multi"),
                    ("DEMO-0003", "truefalse"),
                    ("DEMO-0004", "numeric"),
                    ("DEMO-0005", "text"),
                    ("DEMO-0006", "order"),
                    ("DEMO-0007", "match"),
                ]
            ),
            (f"{drafts}/{bank}/question?id=DEMO-S01", "scenario group form"),
            (f"{drafts}/{bank}/question?type=match", "new question form"),
            (f"{drafts}/{translation}", "translation draft"),
            (f"{drafts}/{translation}/translation?id=DEMO-0001", "translation form"),
            (f"{drafts}/{translation}/translation?id=DEMO-0004", "translation form (unit labels)"),
            (f"{drafts}/{bank}/question?type=scenario&first=single", "new scenario group form"),
            (f"{drafts}/{course}", "course draft (form, blueprint counts)"),
            (f"{drafts}/{course}/course-translation?lang=zh-CN", "course translation form"),
            (f"/trainer/authoring/files?path={BANK}", "file history"),
        ]
        views = [
            ("en-US", DESKTOP, "en"),
            (ZH_CN, DESKTOP, "zh-CN"),
            ("en-US", {"width": 360, "height": 780}, "en 360"),
            (ZH_CN, {"width": 360, "height": 780}, "zh-CN 360"),
        ]
        audit.visit(browser, live_server.url, author, paths, views)
        summary = audit.save()
        with capsys.disabled():
            print(f"\n[{audit.group}] {summary}")
        found = [
            f"{v['page']}: {v['impact']} {v['rule']} ({v['help']}) at "
            + "; ".join(" ".join(map(str, n["target"])) for n in v["nodes"])
            for v in audit.violations
        ]
        assert not found, "\n".join(found)  # none at all, of any impact
        assert len(audit.pages) == len(paths) * len(views)
    finally:
        with migrated_database.write() as db:
            db.execute(delete(DraftEvent))
            db.execute(delete(ContentDraft))
            db.execute(delete(ContentVersion))
            db.execute(update(ContentGeneration).values(generation=ContentGeneration.generation + 1))
