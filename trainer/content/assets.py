"""Images uploaded from a module draft into its course's assets/ folder (issue 18).

Several stateless app processes share one database and no disk, so an uploaded image is a
`content_assets` row (trainer.content.models.ContentAsset). It lies over the course's assets/
folder as a published module text lies over its file:

- the draft's check and every app's library see it in the overlay (its path mapped to a stand-in
  text naming its SHA-256: trainer.content.loader only checks that a linked image exists), so a
  module may link `assets/name.png` to it;
- the course's asset route serves it after the files on disk, with the same headers;
- `trainer content export` writes it into the course's assets/ folder, byte for byte, and an
  import of that export finds it unchanged.

It stays unpublished (trainers and admins see it, in the draft's preview; inspectors get a 404)
until the draft it was uploaded from is approved with a text that links it; then it is
published in the same transaction as the module. The draft's uploads still unpublished when it
closes (approved without linking them, or withdrawn) are removed then. An upload never replaces
anything: its name is new in the course (a number added when taken), so a published image never
changes under a page.

What is accepted is decided from the bytes (magic numbers), never from the file's name or the
type the browser sent: PNG, JPEG, GIF and WebP, at most 2 MB. SVG is refused: it is an XML
document that can carry script, event handlers and links to elsewhere, and cleaning it safely
needs a full SVG allowlist sanitiser; a trainer with a drawing exports it as PNG.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from trainer.access import Viewer
from trainer.audit import service as audit
from trainer.content.models import ContentAsset, ContentDraft
from trainer.db import utcnow
from trainer.errors import DomainError
from trainer.i18n import N_

MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_ALT_LENGTH = 300
# The upload route's body limit (the app's is 1 MB). Up to this the draft page says, in the
# reader's language, that the image is over MAX_IMAGE_BYTES: a photo straight from a phone
# (3-12 MB) gets that message. Beyond it the server refuses the body unread with a bare 413.
# Only trainers reach the form parser (access is checked first), and it spools to a temporary
# file, removed when the request ends.
MAX_UPLOAD_BODY = 16 * 1024 * 1024
# Which images are accepted, by the first bytes of the file: (media type, file suffix).
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)
# The suffix a name of ours ends in, and the media type served for it.
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
OVERLAY_PREFIX = "uploaded image sha256:"
# The names this module gives (and takes from imported files): what the asset route serves.
NAME = re.compile(r"^[a-z0-9-]{1,80}\.(?:png|jpg|gif|webp)$")

FILE_MISSING = N_("Choose an image file to upload.")
ALT_MISSING = N_("Describe the picture: alt text is what a screen reader says in its place.")
ALT_TOO_LONG = N_("Alt text may have at most %(count)d characters.")
TOO_LARGE = N_("An image may be at most %(mb)d MB; make it smaller (fewer pixels, or JPEG for photos).")
SVG_REFUSED = N_("SVG images are not accepted: they can carry script. Export the drawing as PNG.")
NOT_AN_IMAGE = N_("Only PNG, JPEG, GIF and WebP images can be uploaded: this file is none of them.")


def sniff(data: bytes) -> tuple[str, str] | None:
    """(media type, suffix) of an accepted image, from its bytes alone; None for anything else."""
    for magic, media_type, suffix in _SIGNATURES:
        if data.startswith(magic):
            return media_type, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def refusal(data: bytes) -> DomainError | None:
    """Why these bytes are not an accepted image (too large, SVG, not an image), or None."""
    if len(data) > MAX_IMAGE_BYTES:
        return DomainError(413, "image_too_large", TOO_LARGE, mb=MAX_IMAGE_BYTES // (1024 * 1024))
    if sniff(data) is None:
        if _looks_like_svg(data):
            return DomainError(415, "svg_refused", SVG_REFUSED)
        return DomainError(415, "not_an_image", NOT_AN_IMAGE)
    return None


def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head


def _stem(filename: str) -> str:
    """A plain name from what the browser called the file: lower-case letters, digits, dashes."""
    base = re.split(r"[\\/]", filename)[-1]
    base = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:60].strip("-")
    return stem or "image"


def markdown_for(asset: ContentAsset) -> str:
    """What the author pastes into the body: `![alt](assets/name.png)`, the alt text escaped
    so a bracket in it cannot end the Markdown early."""
    alt = re.sub(r"([\\\[\]])", r"\\\1", " ".join(asset.alt_text.split()))
    return f"![{alt}](assets/{asset.name})"


def course_of(draft: ContentDraft) -> str:
    return draft.path.split("/", 1)[0]


def store(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    draft: ContentDraft,
    *,
    courses_dir: Path,
    filename: str,
    data: bytes | None,
    alt_text: str,
) -> ContentAsset:
    """Keep an image for `draft`'s course, unpublished (trainer.content.publishing.upload_image
    decides who may). `data` is None when no file was sent; at most MAX_IMAGE_BYTES + 1 bytes
    need be read (more is too large, whatever follows)."""
    alt = " ".join(alt_text.split())
    if not data:
        raise DomainError(422, "image_missing", FILE_MISSING)
    if not alt:
        raise DomainError(422, "alt_text_missing", ALT_MISSING)
    if len(alt) > MAX_ALT_LENGTH:
        raise DomainError(422, "alt_text_too_long", ALT_TOO_LONG, count=MAX_ALT_LENGTH)
    refused = refusal(data)
    if refused is not None:
        raise refused
    media_type, suffix = sniff(data) or ("", "")
    course_id = course_of(draft)
    stem = _stem(filename)
    on_disk = courses_dir / course_id / "assets"
    taken = set(session.scalars(select(ContentAsset.name).where(ContentAsset.course_id == course_id)))
    number = 1
    while True:
        name = f"{stem}.{suffix}" if number == 1 else f"{stem}-{number}.{suffix}"
        number += 1
        if name in taken or (on_disk / name).exists():
            continue
        asset = ContentAsset(
            course_id=course_id,
            name=name,
            media_type=media_type,
            data=data,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            alt_text=alt,
            draft_id=draft.id,
            uploaded_by=viewer.id,
            uploaded_at=utcnow(),
            published_at=None,
        )
        try:
            with session.begin_nested():  # another upload may have taken the name just now
                session.add(asset)
                session.flush()
        except IntegrityError:
            taken.add(name)
            continue
        break
    audit.record(
        session, "content.asset.uploaded", actor, target_type="content_asset", target_id=asset.id,
        details={"course": course_id, "name": name, "sha256": asset.sha256, "size": asset.size,
                 "draft": draft.id},
    )  # fmt: skip
    return asset


def publish_with(session: Session, actor: audit.Actor, draft: ContentDraft) -> list[str]:
    """On approval: publish the draft's unpublished uploads that its text links (the others stay
    unseen by inspectors). Returns their names."""
    pending = session.scalars(
        select(ContentAsset)
        .options(load_only(ContentAsset.id, ContentAsset.name, ContentAsset.sha256))
        .where(ContentAsset.draft_id == draft.id, ContentAsset.published_at.is_(None))
    ).all()
    published = []
    now = utcnow()
    for asset in pending:
        # A plain search of the text: a mention in a code block also publishes it, which shows
        # nobody anything the author did not upload for this module.
        if f"assets/{asset.name}" not in draft.text:
            continue
        asset.published_at = now
        published.append(asset.name)
        audit.record(
            session, "content.asset.published", actor, target_type="content_asset", target_id=asset.id,
            details={"course": course_of(draft), "name": asset.name, "sha256": asset.sha256,
                     "draft": draft.id},
        )  # fmt: skip
    return published


def discard_unused(session: Session, actor: audit.Actor, draft: ContentDraft) -> list[str]:
    """When a draft closes (approved or withdrawn): remove its uploads still unpublished. No
    published page can link them (only published images are in the served library) and no other
    draft may (a draft's check sees only its own uploads), so nothing will ever publish them.
    Returns their names."""
    unused = session.scalars(
        select(ContentAsset)
        .options(load_only(ContentAsset.id, ContentAsset.course_id, ContentAsset.name, ContentAsset.sha256))
        .where(ContentAsset.draft_id == draft.id, ContentAsset.published_at.is_(None))
    ).all()
    for asset in unused:
        audit.record(
            session, "content.asset.discarded", actor, target_type="content_asset", target_id=asset.id,
            details={"course": asset.course_id, "name": asset.name, "sha256": asset.sha256,
                     "draft": draft.id},
        )  # fmt: skip
        session.delete(asset)
    session.flush()
    return [asset.name for asset in unused]


def _marker(asset: ContentAsset) -> str:
    return f"{OVERLAY_PREFIX}{asset.sha256}"


def published_overlay(session: Session) -> dict[str, str]:
    """Every published image as the library's overlay holds it (trainer.content.loader)."""
    rows = session.scalars(
        select(ContentAsset)
        .options(load_only(ContentAsset.course_id, ContentAsset.name, ContentAsset.sha256))
        .where(ContentAsset.published_at.is_not(None))
    )
    return {f"{a.course_id}/assets/{a.name}": _marker(a) for a in rows}


@dataclass(frozen=True)
class Upload:
    """An image of a draft as its page lists it (no bytes)."""

    name: str
    size: int
    media_type: str
    markdown: str
    url: str
    published: bool


def of_draft(session: Session, draft: ContentDraft) -> list[Upload]:
    rows = session.scalars(
        select(ContentAsset)
        .options(
            load_only(
                ContentAsset.course_id,
                ContentAsset.name,
                ContentAsset.size,
                ContentAsset.media_type,
                ContentAsset.alt_text,
                ContentAsset.published_at,
            )
        )
        .where(ContentAsset.draft_id == draft.id)
        .order_by(ContentAsset.id)
    )
    return [
        Upload(
            a.name,
            a.size,
            a.media_type,
            markdown_for(a),
            f"/courses/{a.course_id}/assets/{a.name}",
            a.published_at is not None,
        )
        for a in rows
    ]


def draft_overlay(session: Session, draft: ContentDraft) -> dict[str, str]:
    """The draft's own unpublished uploads, for its check: its text may link them."""
    rows = session.scalars(
        select(ContentAsset)
        .options(load_only(ContentAsset.course_id, ContentAsset.name, ContentAsset.sha256))
        .where(ContentAsset.draft_id == draft.id, ContentAsset.published_at.is_(None))
    )
    return {f"{a.course_id}/assets/{a.name}": _marker(a) for a in rows}


def find(session: Session, course_id: str, name: str, *, unpublished_too: bool) -> ContentAsset | None:
    """An uploaded image by course and name; unpublished ones only for trainers and admins."""
    query = select(ContentAsset).where(ContentAsset.course_id == course_id, ContentAsset.name == name)
    if not unpublished_too:
        query = query.where(ContentAsset.published_at.is_not(None))
    return session.scalars(query).first()


def export_into(session: Session, courses_out: Path) -> int:
    """Write every published image into its course's assets/ folder under `courses_out`."""
    written = 0
    for asset in session.scalars(select(ContentAsset).where(ContentAsset.published_at.is_not(None))):
        target = courses_out / asset.course_id / "assets" / asset.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(asset.data)
        written += 1
    return written


def published_hashes(session: Session) -> dict[str, str]:
    """Each published image's SHA-256 by its path under courses/ (what an import compares)."""
    rows = session.execute(
        select(ContentAsset.course_id, ContentAsset.name, ContentAsset.sha256).where(
            ContentAsset.published_at.is_not(None)
        )
    )
    return {f"{course}/assets/{name}": sha for course, name, sha in rows}


# -- images in files that `trainer content import` brings in ---------------------------------------


def import_problem(session: Session, courses_dir: Path, path: str, data: bytes) -> str | None:
    """Why the file at `path` ("course-id/assets/name.png") cannot be imported as an image, in
    English for the operator; None when it can. The upload's checks, and a name already served
    (on disk or uploaded) with other bytes: a published image never changes under a page."""
    course_id, _, name = path.partition("/assets/")
    if (courses_dir / path).exists():
        return "a different file of this name is served from disk: give the new image a name of its own"
    refused = refusal(data)
    if refused is not None:
        return refused.text()
    if not NAME.match(name):
        return "name an image like main-fan.png: lowercase letters, digits, hyphens; .png, .jpg, .gif, .webp"
    suffix = (sniff(data) or ("", ""))[1]
    if not name.endswith(f".{suffix}"):
        return f"the file is a {suffix.upper()} image: name it .{suffix}"
    if find(session, course_id, name, unpublished_too=True) is not None:
        return "a different uploaded image has this name: give the new image a name of its own"
    return None


def overlay_of(images: dict[str, bytes]) -> dict[str, str]:
    """Images about to be imported, as the library's overlay holds them."""
    return {path: f"{OVERLAY_PREFIX}{hashlib.sha256(data).hexdigest()}" for path, data in images.items()}


def add_imported(
    session: Session, actor: audit.Actor, path: str, data: bytes, *, draft_id: int | None, by: int | None
) -> None:
    """An image from imported files: published at once (draft_id None), or unpublished with the
    draft that links it, to be published with it (trainer.content.publishing.import_for_review)."""
    course_id, _, name = path.partition("/assets/")
    media_type = (sniff(data) or ("", ""))[0]
    now = utcnow()
    asset = ContentAsset(
        course_id=course_id, name=name, media_type=media_type, data=data, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), alt_text="", draft_id=draft_id, uploaded_by=by,
        uploaded_at=now, published_at=None if draft_id is not None else now,
    )  # fmt: skip
    session.add(asset)
    session.flush()
    audit.record(
        session, "content.asset.imported", actor, target_type="content_asset", target_id=asset.id,
        details={"course": course_id, "name": name, "sha256": asset.sha256, "size": asset.size,
                 "draft": draft_id},
    )  # fmt: skip
