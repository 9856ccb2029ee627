"""Every library page, in both languages, through the real app."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ZH
from trainer.db import Database
from trainer.web.middleware import CONTENT_SECURITY_POLICY

PAGES = [
    "/courses",
    "/courses/demo-course",
    "/courses/demo-course/demo-first",
    "/courses/demo-course/demo-second",
    "/search?q=airflow",
    "/search?q=",
]


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.html_lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.html_lang = values.get("lang")
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"] or "")


def parse(page: str) -> _Ids:
    parser = _Ids()
    parser.feed(page)
    return parser


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(("accept", "lang", "marker"), [("en", "en", "Courses"), ("zh-CN", "zh-CN", "课程")])
def test_every_page_renders_in_both_languages(
    client: TestClient, path: str, accept: str, lang: str, marker: str
) -> None:
    response = client.get(path, headers={"Accept-Language": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parsed = parse(response.text)
    assert parsed.html_lang == lang
    assert marker in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    # Every in-page link points at an element that exists.
    for href in parsed.hrefs:
        if href.startswith("#"):
            assert href[1:] in parsed.ids, href


def test_catalogue_groups_courses_by_domain(client: TestClient) -> None:
    page = client.get("/courses").text
    assert '<h2 id="domain-coal">Coal mines</h2>' in page
    assert "2 modules" in page
    assert "about 35 minutes" in page
    assert client.get("/courses", headers=ZH).text.count("煤矿") >= 1


def test_course_page_explains_the_policy_in_plain_words(client: TestClient) -> None:
    page = client.get("/courses/demo-course").text
    assert "Qualification: Demo qualification" in page
    assert "30 minutes, at least 80% of the points" in page
    assert "up to 2 times per certification cycle" in page
    assert "valid for 36 months" in page
    assert "3 questions on" in page
    assert page.index("Ventilation first steps") < page.index("Methane monitoring")


def test_module_page_shows_toc_objectives_regulations_and_neighbours(client: TestClient) -> None:
    page = client.get("/courses/demo-course/demo-first").text
    assert '<a href="#why-airflow-matters">Why airflow matters</a>' in page
    assert '<h2 id="why-airflow-matters">' in page
    assert "Explain why intake air is checked." in page
    assert "<cite>Demo Safety Law</cite>" in page
    assert "in force from 2021-09-01" in page
    assert 'rel="next" href="/courses/demo-course/demo-second"' in page
    assert 'rel="prev"' not in page
    assert 'src="/courses/demo-course/assets/airflow.svg"' in page
    assert 'href="/courses/demo-course/demo-second#next-steps"' in page
    second = client.get("/courses/demo-course/demo-second").text
    assert 'rel="prev" href="/courses/demo-course/demo-first"' in second
    assert "<cite>Other Rule</cite>" in second


def test_chinese_heading_ids_work_as_anchors(client: TestClient) -> None:
    page = client.get("/courses/demo-course/demo-first").text
    assert '<h2 id="通风检查">' in page
    assert 'href="#通风检查"' in page


def test_translation_is_shown_to_a_chinese_reader(client: TestClient) -> None:
    page = client.get("/courses/demo-course/demo-first", headers=ZH).text
    assert "通风入门" in page
    assert '<article class="module" lang="zh-CN"' in page
    assert "<cite>示例安全法</cite>" in page
    assert 'href="?version=en"' in page
    original = client.get("/courses/demo-course/demo-first?version=en").text
    assert "Ventilation first steps" in original
    assert '<article class="module" lang="en"' in original


def test_untranslated_module_says_so_and_marks_its_language(client: TestClient) -> None:
    page = client.get("/courses/demo-course/demo-second", headers=ZH).text
    assert "Methane monitoring" in page
    assert '<article class="module" lang="en"' in page
    assert "尚未翻译" in page


def test_unknown_version_parameter_falls_back(client: TestClient) -> None:
    assert client.get("/courses/demo-course/demo-first?version=fr").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/courses/nope",
        "/courses/demo-course/nope",
        "/courses/nope/demo-first",
        "/nothing-here",
        "/courses/demo-course/assets",
    ],
)
def test_unknown_pages_are_a_translated_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.text
    zh_response = client.get(path, headers=ZH)
    assert zh_response.status_code == 404
    assert "找不到" in zh_response.text


def test_overlong_query_is_a_400_not_a_crash(client: TestClient) -> None:
    response = client.get("/search", params={"q": "x" * 500})
    assert response.status_code == 400


def test_search_finds_english_and_chinese(client: TestClient) -> None:
    page = client.get("/search", params={"q": "Airflow dilutes"}).text
    assert "1 module found" in page
    assert "<mark>Airflow</mark>" in page
    page = client.get("/search", params={"q": "风流"}, headers=ZH).text
    assert 'href="/courses/demo-course/demo-first"' in page
    assert "<mark>风流</mark>" in page
    page = client.get("/search", params={"q": "zzzunfindable"}).text
    assert "0 modules found" in page


def test_search_escapes_the_query(client: TestClient) -> None:
    page = client.get("/search", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_language_follows_accept_language_then_choice(client: TestClient) -> None:
    assert 'lang="zh-CN"' in client.get("/courses", headers={"Accept-Language": "zh-TW,en;q=0.5"}).text
    assert '<html lang="en">' in client.get("/courses", headers={"Accept-Language": "fr, en;q=0.4"}).text
    client.get("/courses")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/courses").text)
    assert token
    response = client.post(
        "/language",
        data={"lang": "zh-CN", "csrf_token": token.group(1), "next": "/courses/demo-course"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/courses/demo-course"
    page = client.get("/courses", headers={"Accept-Language": "en"}).text
    assert '<html lang="zh-CN">' in page  # the user's choice beats the browser's


def test_language_form_rejects_missing_or_wrong_csrf_token(client: TestClient) -> None:
    client.get("/courses")
    for data in ({"lang": "zh-CN"}, {"lang": "zh-CN", "csrf_token": "0" * 64}):
        response = client.post("/language", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "trainer_lang" not in response.headers.get("set-cookie", "")
    assert '<html lang="en">' in client.get("/courses").text


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_language_form_never_redirects_off_site(client: TestClient, target: str) -> None:
    page = client.get("/courses").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert token
    response = client.post(
        "/language", data={"lang": "en", "csrf_token": token.group(1), "next": target}, follow_redirects=False
    )
    assert response.headers["location"] == "/"


def test_language_change_is_not_possible_by_get(client: TestClient) -> None:
    assert client.get("/language?lang=zh-CN").status_code == 405


def test_healthz_reports_database_and_library(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "courses": 1, "modules": 2}


def test_healthz_is_503_when_the_database_is_unreachable(app: FastAPI, client: TestClient) -> None:
    good = app.state.database
    app.state.database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        response = client.get("/healthz")
    finally:
        app.state.database.dispose()
        app.state.database = good
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_static_files_are_served_with_versioned_urls(client: TestClient) -> None:
    page = client.get("/courses").text
    match = re.search(r'href="(/static/trainer\.css\?v=[0-9a-f]{10})"', page)
    assert match
    css = client.get(match.group(1))
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    client.get("/courses")
    response = client.post(
        "/language",
        content=b"lang=zh-CN&next=/&x=" + b"a" * 2_000_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert '<html lang="en">' in client.get("/courses").text


def test_a_malformed_form_is_a_clear_4xx(client: TestClient) -> None:
    response = client.post(
        "/language", content=b"\xff\xfe%%%", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "path",
    [
        "/people/{big}",
        "/attempts/{big}",
        "/admin/users/{big}",
        "/manage?unit={big}",
        "/manage/inspectors?unit={big}",
        "/people/0",
        "/attempts/-1",
    ],
)
def test_ids_no_row_can_have_are_a_404_not_a_database_error(
    client: TestClient, migrated_database: Database, path: str
) -> None:
    from tests.conftest import make_person, sign_in

    sign_in(client, make_person(migrated_database, "admin", unit=None))
    # Larger than PostgreSQL's integer: passed to the database it would fail, not miss.
    response = client.get(path.format(big=2**40), follow_redirects=False)
    assert response.status_code == 404
