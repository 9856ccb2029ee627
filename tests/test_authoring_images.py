"""Images uploaded from a module draft (issue 18): kept in the database, checked by their bytes,
seen by trainers in the preview, published with the draft that uses them, served by the course's
asset route with the file assets' headers, and written out by `trainer content export`. Over
real HTTP through the app, on the run's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tests import test_authoring
from tests.conftest import ZH, ContentDirs, csrf_token, make_person, run_together
from tests.test_authoring import cli, form_fields, post, same_tree, signed_in, start, wait_for
from trainer.audit.models import AuditEvent
from trainer.content import assets
from trainer.content.models import ContentAsset
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # publishes, as tests/test_authoring.py does
ALT = "The main fan at the shaft top"
# Its fixtures, as tests/test_authoring.py's: no published version or image left behind.
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app


def image(kind: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format=kind)
    return buffer.getvalue()


def upload(
    client: TestClient,
    draft_id: int,
    data: bytes | None,
    *,
    filename: str = "Main Fan.PNG",
    content_type: str = "image/png",
    alt: str = ALT,
    headers: dict[str, str] | None = None,
) -> Any:
    files = {"image": (filename, data, content_type)} if data is not None else None
    form = {"csrf_token": csrf_token(client, "/trainer/authoring"), "alt_text": alt}
    return client.post(
        f"/trainer/authoring/drafts/{draft_id}/images",
        data=form,
        files=files,
        follow_redirects=False,
        headers=headers,
    )


def asset_rows(database: Database) -> int:
    with database.session() as db:
        return db.scalar(select(func.count()).select_from(ContentAsset)) or 0


def test_an_image_is_previewed_by_trainers_and_published_with_the_draft_that_uses_it(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "admin")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    i = signed_in(fast_app, make_person(migrated_database, "inspector"))
    png = image()
    draft_id = start(a)
    response = upload(a, draft_id, png, filename="C:\\photos\\Main Fan.PNG")
    assert response.status_code == 303
    assert response.headers["location"].endswith("done=uploaded#images")
    page = a.get(response.headers["location"]).text
    assert "Image uploaded" in page
    markdown = f"![{ALT}](assets/main-fan.png)"
    assert markdown in page  # the Markdown to paste
    # A second upload of the same name gets a name of its own; nothing is ever replaced.
    gif = upload(a, draft_id, image("GIF"), filename="main fan.gif", content_type="image/gif")
    assert gif.status_code == 303
    assert "assets/main-fan.gif" in a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert upload(a, draft_id, png).status_code == 303
    assert "assets/main-fan-2.png" in a.get(f"/trainer/authoring/drafts/{draft_id}").text

    # Unpublished: trainers see it (the preview), inspectors do not, no shared cache keeps it.
    url = "/courses/demo-course/assets/main-fan.png"
    for client in (a, b):
        served = client.get(url)
        assert served.status_code == 200
        assert served.content == png
        assert served.headers["content-type"] == "image/png"
        assert served.headers["cache-control"] == "private, no-store"
    assert i.get(url).status_code == 404
    assert TestClient(fast_app).get(url, follow_redirects=False).status_code in (303, 404)

    fields = form_fields(a, draft_id)
    fields["body"] = fields["body"].replace("## Why airflow matters", f"{markdown}\n\n## Why airflow matters")
    assert post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"}).status_code == 303
    review_page = b.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert f'<img alt="{ALT}" loading="lazy" src="{url}"' in review_page
    assert post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 303

    # Published with the module: the inspector sees the image, with the file assets' headers.
    wait_for(lambda: i.get(url).status_code == 200)
    served = i.get(url)
    assert served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=300"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["x-content-type-options"] == "nosniff"
    wait_for(lambda: f'src="{url}"' in i.get("/courses/demo-course/demo-first").text)
    # The uploads the text does not use are removed: nothing could ever publish them.
    for client in (i, a):
        assert client.get("/courses/demo-course/assets/main-fan.gif").status_code == 404
        assert client.get("/courses/demo-course/assets/main-fan-2.png").status_code == 404
    with migrated_database.session() as db:
        published = db.scalars(select(ContentAsset.name).where(ContentAsset.published_at.is_not(None))).all()
        assert db.scalars(select(ContentAsset.name)).all() == ["main-fan.png"]
        actions = db.execute(
            select(AuditEvent.action, func.count())
            .where(AuditEvent.action.like("content.asset.%"))
            # This test's own: the audit log is the run's, and other tests upload images too.
            .where(AuditEvent.actor_id.in_((author.id, reviewer.id)))
            .group_by(AuditEvent.action)
        ).all()
    assert published == ["main-fan.png"]
    assert dict(actions) == {
        "content.asset.uploaded": 3,
        "content.asset.published": 1,
        "content.asset.discarded": 2,
    }


def test_a_withdrawn_drafts_uploads_are_removed_and_other_drafts_keep_theirs(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    other = signed_in(fast_app, make_person(migrated_database, "trainer"))
    draft_id, kept = start(a), start(other)
    assert upload(a, draft_id, image(), filename="gone.png").status_code == 303
    assert upload(other, kept, image(), filename="kept.png").status_code == 303
    fields = form_fields(a, draft_id)
    fields["body"] += f"\n![{ALT}](assets/gone.png)\n"
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "save"})
    assert (
        post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "withdraw"}).status_code == 303
    )
    with migrated_database.session() as db:
        assert db.scalars(select(ContentAsset.name)).all() == ["kept.png"]
    assert a.get("/courses/demo-course/assets/gone.png").status_code == 404
    assert other.get("/courses/demo-course/assets/kept.png").status_code == 200


def test_what_is_not_an_accepted_image_is_refused_with_a_clear_message(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author = make_person(migrated_database, "trainer")
    a = signed_in(fast_app, author)
    draft_id = start(a)
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    html = b"<html><script>alert(1)</script></html>"
    too_big = image()[:64] + b"\0" * assets.MAX_IMAGE_BYTES
    cases = [
        # The browser's type and the name say image; the bytes say otherwise.
        (svg, "drawing.svg", "image/svg+xml", ALT, 415, "SVG images are not accepted"),
        (svg, "drawing.png", "image/png", ALT, 415, "SVG images are not accepted"),
        (html, "photo.png", "image/png", ALT, 415, "Only PNG, JPEG, GIF and WebP"),
        (b"%PDF-1.7\n", "rules.pdf", "application/pdf", ALT, 415, "Only PNG, JPEG, GIF and WebP"),
        (too_big, "big.png", "image/png", ALT, 413, "at most 2 MB"),
        (too_big * 4, "phone.png", "image/png", ALT, 413, "at most 2 MB"),  # as a phone takes it
        (image(), "fan.png", "image/png", "   ", 422, "alt text is what a screen reader says"),
        (image(), "fan.png", "image/png", "x" * 301, 422, "at most 300 characters"),
        (None, "", "", ALT, 422, "Choose an image file"),
    ]
    for data, filename, content_type, alt, status, message in cases:
        response = upload(a, draft_id, data, filename=filename, content_type=content_type, alt=alt)
        assert response.status_code == status, (filename, response.status_code)
        assert message in response.text, filename
        assert 'id="form-errors"' in response.text
    assert asset_rows(migrated_database) == 0
    # In Chinese too.
    response = upload(a, draft_id, svg, filename="drawing.svg", headers=ZH)
    assert response.status_code == 415
    assert "SVG" in response.text
    assert "不接受" in response.text
    # A body over the route's limit is refused before it is read: a 4xx, never a 5xx.
    huge = upload(a, draft_id, b"\x89PNG\r\n\x1a\n" + b"\0" * (assets.MAX_UPLOAD_BODY + 10))
    assert huge.status_code == 413
    # The type comes from the bytes: a PNG called .svg with the browser saying SVG is a PNG.
    assert upload(a, draft_id, image(), filename="fan.svg", content_type="image/svg+xml").status_code == 303
    assert upload(a, draft_id, image("JPEG"), filename="site.jpeg", content_type="").status_code == 303
    assert upload(a, draft_id, image("WEBP"), filename="x", content_type="text/plain").status_code == 303
    with migrated_database.session() as db:
        rows = db.execute(select(ContentAsset.name, ContentAsset.media_type).order_by(ContentAsset.id)).all()
    assert [tuple(r) for r in rows] == [
        ("fan.png", "image/png"),
        ("site.jpg", "image/jpeg"),
        ("x.webp", "image/webp"),
    ]


def test_only_the_drafts_author_uploads_and_only_while_editing(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author = make_person(migrated_database, "trainer")
    a = signed_in(fast_app, author)
    draft_id = start(a)
    others = {
        "trainer": 403,  # not the author
        "manager": 403,
        "inspector": 403,
    }
    for role, status in others.items():
        client = signed_in(fast_app, make_person(migrated_database, role))
        assert upload(client, draft_id, image()).status_code == status, role
    assert upload(TestClient(fast_app), draft_id, image()).status_code in (401, 403)
    assert post(a, f"/trainer/authoring/drafts/{draft_id}", {**form_fields(a, draft_id), "action": "submit"})
    assert upload(a, draft_id, image()).status_code == 409  # under review
    assert upload(a, 999_999, image()).status_code == 404
    assert asset_rows(migrated_database) == 0


def test_the_check_wants_alt_text_and_an_image_that_exists(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, other = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, o = signed_in(fast_app, author), signed_in(fast_app, other)
    others_draft = start(o)
    assert upload(o, others_draft, image(), filename="theirs.png").status_code == 303
    draft_id = start(a)
    fields = form_fields(a, draft_id)
    fields["body"] += "\n![](assets/airflow.svg)\n\nSee ![their fan](assets/theirs.png).\n"
    response = post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    assert response.status_code == 422
    lines = fields["body"].split("\n")
    first = 15 + next(n for n, line in enumerate(lines, 1) if line.startswith("![]"))
    second = 15 + next(n for n, line in enumerate(lines, 1) if "theirs.png" in line)
    assert f"01-first.md:{first}: an image needs alt text" in response.text
    # Another draft's unpublished upload is not there for this one.
    assert f"01-first.md:{second}: &#39;assets/theirs.png&#39; does not exist" in response.text


def test_a_published_image_is_exported_and_the_export_imports_as_unchanged(
    fast_app: FastAPI,
    content: ContentDirs,
    migrated_database: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    draft_id = start(a)
    jpeg = image("JPEG", (40, 30))
    assert upload(a, draft_id, jpeg, filename="shaft.jpg", content_type="image/jpeg").status_code == 303
    fields = form_fields(a, draft_id)
    fields["body"] += f"\n![{ALT}](assets/shaft.jpg)\n"
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    exported = cli("content", "export", str(tmp_path / "one"), content=content, database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "one" / "courses" / "demo-course" / "assets" / "shaft.jpg").read_bytes() == jpeg
    assert (tmp_path / "one" / "courses" / "demo-course" / "assets" / "airflow.svg").read_bytes() == (
        content.course / "assets" / "airflow.svg"
    ).read_bytes()
    imported = cli("content", "import", str(tmp_path / "one"), content=content, database_url=database_url)
    assert imported.returncode == 0, imported.stderr
    assert "0 file(s) published" in imported.stdout
    assert "shaft.jpg" not in imported.stdout + imported.stderr  # not reported as a changed file
    cli("content", "export", str(tmp_path / "two"), content=content, database_url=database_url)
    assert same_tree(tmp_path / "one", tmp_path / "two")
    # The exported files pass `trainer check` on their own: the image is a file there.
    exported_dirs = ContentDirs(tmp_path / "one" / "courses", tmp_path / "one" / "question_bank")
    checked = cli("check", content=exported_dirs, database_url=database_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_uploads_at_the_same_moment_each_get_a_name_of_their_own(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    draft_id = start(a)
    token = csrf_token(a, "/trainer/authoring")
    png = image()

    def send() -> int:
        response = a.post(
            f"/trainer/authoring/drafts/{draft_id}/images",
            data={"csrf_token": token, "alt_text": ALT},
            files={"image": ("fan.png", png, "image/png")},
            follow_redirects=False,
        )
        return response.status_code

    assert run_together([send] * 6) == [303] * 6
    with migrated_database.session() as db:
        names = db.scalars(select(ContentAsset.name)).all()
    assert sorted(names) == sorted(["fan.png", *(f"fan-{n}.png" for n in range(2, 7))])
