"""Course assets are served from the course's assets/ folder and from nowhere else."""

from __future__ import annotations

import http.client
import os
from urllib.parse import urlsplit

import pytest

from tests.conftest import ContentDirs, LiveServer


def raw_get(server: LiveServer, path: str) -> tuple[int, dict[str, str], bytes]:
    """Send the path exactly as given: no client-side normalisation of '..' or escapes."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_an_asset_is_served_and_cannot_run_script(live_server: LiveServer) -> None:
    status, headers, body = raw_get(live_server, "/courses/demo-course/assets/airflow.svg")
    assert status == 200
    assert body.startswith(b"<svg")
    assert headers["content-type"].startswith("image/svg+xml")
    assert "sandbox" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/courses/demo-course/assets/../course.yaml",
        "/courses/demo-course/assets/..%2fcourse.yaml",
        "/courses/demo-course/assets/..%2F01-first.md",
        "/courses/demo-course/assets/%2e%2e/%2e%2e/%2e%2e/question_bank/regulations.yaml",
        "/courses/demo-course/assets/....//course.yaml",
        "/courses/demo-course/assets/%2fetc%2fpasswd",
        "/courses/demo-course/assets//etc/passwd",
        "/courses/demo-course/assets/..\\course.yaml",
        "/courses/demo-course/assets/airflow.svg%00.png",
        "/courses/demo-course/assets/",
        "/courses/../../etc/passwd",
        "/courses/demo-course/assets/missing.png",
        "/courses/no-course/assets/airflow.svg",
    ],
)
def test_paths_cannot_escape_the_assets_folder(live_server: LiveServer, path: str) -> None:
    status, _, body = raw_get(live_server, path)
    assert status in (400, 404), (path, status)
    assert b"root:" not in body
    assert b"demo-first" not in body
    assert b"Demo Safety Law" not in body


def test_a_symlink_out_of_the_assets_folder_is_not_followed(
    content: ContentDirs, live_server: LiveServer
) -> None:
    os.symlink(content.course / "course.yaml", content.course / "assets" / "link.svg")
    status, _, body = raw_get(live_server, "/courses/demo-course/assets/link.svg")
    assert status == 404
    assert b"renewal_window_days" not in body


def test_only_allowlisted_file_types_are_served(content: ContentDirs, live_server: LiveServer) -> None:
    (content.course / "assets" / "notes.html").write_text("<script>alert(1)</script>")
    (content.course / "assets" / "secret.yaml").write_text("k: v")
    assert raw_get(live_server, "/courses/demo-course/assets/notes.html")[0] == 404
    assert raw_get(live_server, "/courses/demo-course/assets/secret.yaml")[0] == 404
