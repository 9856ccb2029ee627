"""Images in imported files (issue 18): `trainer content import DIR` brings a new image under a
course's assets/ into `content_assets` with the upload's checks (directly published, or with
`--review` unpublished beside the draft that links it), so that an export imported into an empty
database exports again byte for byte, uploaded images included; a module linking an image that
is nowhere is a problem with its file and line, and nothing is imported. The real CLI in a
subprocess on the run's database (SQLite or PostgreSQL), pages over real HTTP."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests import test_authoring
from tests.conftest import ContentDirs, make_person
from tests.test_authoring import FIRST, clear_content, cli, form_fields, post, same_tree, signed_in, start
from tests.test_authoring_images import ALT, asset_rows, image, upload
from tests.test_authoring_import_review import import_review, versions
from trainer.content.models import ContentAsset, ContentDraft
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # see tests/test_authoring.py
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app
ASSETS = "courses/demo-course/assets"


def with_image(content: ContentDirs, target: Path, name: str, data: bytes | None, link: str = "") -> Path:
    """The library as files, with `data` at assets/`name` (None: no such file) and the first
    module linking assets/`link or name` at the end of its text."""
    shutil.copytree(content.courses.parent, target)
    if data is not None:
        (target / ASSETS / name).write_bytes(data)
    module = target / "courses" / FIRST
    module.write_text(module.read_text() + f"\n![{ALT}](assets/{link or name})\n")
    return target


def rows(database: Database) -> dict[str, tuple[str, int | None, bool]]:
    with database.session() as db:
        return {
            a.name: (a.sha256[:12], a.draft_id, a.published_at is not None)
            for a in db.scalars(select(ContentAsset))
        }


def test_an_export_with_uploaded_images_imports_into_an_empty_database_and_exports_the_same_bytes(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    b = signed_in(fast_app, make_person(migrated_database, "trainer"))
    draft_id = start(a)
    jpeg, png = image("JPEG", (40, 30)), image("PNG", (9, 9))
    assert upload(a, draft_id, jpeg, filename="shaft.jpg", content_type="image/jpeg").status_code == 303
    assert upload(a, draft_id, png, filename="fan.png").status_code == 303
    fields = form_fields(a, draft_id)
    fields["body"] += f"\n![{ALT}](assets/shaft.jpg)\n\n![{ALT}](assets/fan.png)\n"
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("content", "export", str(one), content=content, database_url=database_url).returncode == 0
    served = rows(migrated_database)
    clear_content(migrated_database)  # a new database, the same files on disk
    done = cli("content", "import", str(one), content=content, database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert f"published {ASSETS}/shaft.jpg" in done.stdout
    assert f"published {ASSETS}/fan.png" in done.stdout
    assert f"published courses/{FIRST}" in done.stdout
    assert "3 file(s) published" in done.stdout
    imported = rows(migrated_database)
    assert {name: (sha, published) for name, (sha, _, published) in imported.items()} == {
        name: (sha, True) for name, (sha, _, _) in served.items()
    }
    assert {draft for _, draft, _ in imported.values()} == {None}
    assert cli("content", "export", str(two), content=content, database_url=database_url).returncode == 0
    assert same_tree(one, two)
    assert (two / ASSETS / "shaft.jpg").read_bytes() == jpeg
    # Imported again: nothing changes.
    again = cli("content", "import", str(two), content=content, database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert "0 file(s) published" in again.stdout
    assert asset_rows(migrated_database) == 2
    # Inspectors are served the imported image.
    reader = signed_in(fast_app, make_person(migrated_database, "inspector"))
    assert reader.get("/courses/demo-course/assets/fan.png").content == png


def test_an_import_for_review_keeps_a_new_image_with_the_draft_that_links_it_until_approval(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    author = make_person(migrated_database, "trainer")
    b = signed_in(fast_app, make_person(migrated_database, "trainer"))
    reader = signed_in(fast_app, make_person(migrated_database, "inspector"))
    png = image("PNG", (12, 7))
    source = with_image(content, tmp_path / "files", "roof-bolt.png", png)
    (source / ASSETS / "not-linked.gif").write_bytes(image("GIF"))
    done = import_review(source, author.username, content, database_url)
    assert done.returncode == 0, done.stderr
    draft_id = int(re.findall(r"/trainer/authoring/drafts/(\d+)", done.stdout)[0])
    assert f"image {ASSETS}/roof-bolt.png goes with /trainer/authoring/drafts/{draft_id}" in done.stdout
    assert f"not imported (regulations, tags and other files stay as on disk): {ASSETS}/not-linked.gif" in (
        done.stderr
    )
    assert {name: (d, p) for name, (_, d, p) in rows(migrated_database).items()} == {
        "roof-bolt.png": (draft_id, False)
    }
    assert reader.get("/courses/demo-course/assets/roof-bolt.png").status_code == 404
    approved = post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    assert approved.headers["location"].endswith("done=published")
    assert rows(migrated_database)["roof-bolt.png"][2] is True
    assert reader.get("/courses/demo-course/assets/roof-bolt.png").content == png


@pytest.mark.parametrize("review", [False, True])
@pytest.mark.parametrize(
    ("name", "data", "link", "message"),
    [
        (
            "fan.png",
            None,
            "missing.png",
            re.escape("courses/demo-course/01-first.md:") + r"\d+: 'assets/missing.png' does not exist",
        ),
        (
            "fan.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
            "",
            "SVG images are not accepted",
        ),
        ("fan.png", b"not an image at all", "", "Only PNG, JPEG, GIF and WebP images"),
        ("fan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024), "", "An image may be at most 2 MB"),
        ("airflow.svg", image("PNG"), "", "a different file of this name is served from disk"),
        ("Main Fan.png", image("PNG"), "", "name an image like main-fan.png"),
        ("fan.png", image("JPEG"), "", "the file is a JPG image: name it .jpg"),
    ],
    ids=["missing", "svg", "not-an-image", "too-large", "name-on-disk", "bad-name", "wrong-suffix"],
)
def test_a_missing_or_refused_image_is_a_problem_and_nothing_is_imported(
    content: ContentDirs,
    migrated_database: Database,
    database_url: str,
    tmp_path: Path,
    review: bool,
    name: str,
    data: bytes | None,
    link: str,
    message: str,
) -> None:
    author = make_person(migrated_database, "trainer")
    source = with_image(content, tmp_path / "files", name, data, link)
    if review:
        done = import_review(source, author.username, content, database_url)
    else:
        done = cli("content", "import", str(source), content=content, database_url=database_url)
    assert done.returncode == 1, done.stdout
    assert re.search(message, done.stderr), done.stderr
    assert "nothing imported" in done.stderr
    assert asset_rows(migrated_database) == 0
    assert versions(migrated_database) == 0
    with migrated_database.session() as db:
        assert db.scalar(select(func.count()).select_from(ContentDraft)) == 0
