"""Pages of the course library: catalogue, course, module, search, and course assets.

Pages are plain Starlette routes, not FastAPI path operations: they need no request models or
OpenAPI entries, and FastAPI's per-request dependency solving costs more than serving a cached
page (bench/module_page.py). The JSON API keeps FastAPI's validation and schema. These routes
only read the in-memory library, so they are `async` and never block the event loop on the
database (assets are streamed by FileResponse). What they need of the database is done in a
worker thread: a signed-in reader's ticks on the course page and an image uploaded in the
browser (trainer.content.assets) in the request's unit of work (`unit.run`), and the first read
of a module in a short write of its own (`quizzes.record_read`: a GET's unit only reads).
"""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access
from trainer.content import assets as uploaded_assets
from trainer.content.library import Course, Library, Module, ModuleVersion
from trainer.content.loader import ASSET_SUFFIXES
from trainer.content.schemas import DOMAINS
from trainer.content.store import content_of
from trainer.db import utcnow
from trainer.quizzes import service as quizzes
from trainer.web import state, unit
from trainer.web.pages import page
from trainer.web.unit import session_of

# Files served from a course's assets/ folder are never treated as a page of this site: an SVG
# opened directly cannot run script, and nothing may be framed or sniffed.
ASSET_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
    "Cache-Control": "public, max-age=300",
}
MAX_QUERY_LENGTH = 200


def current_library(request: Request) -> Library:
    """The library to serve; in reload mode this notices edits (a quick stat of the files)."""
    store = content_of(request)
    # The generation that keys this request's cached pages, with the library it goes with
    # (ContentStore.current: never the new generation with the old library, or the old page is
    # cached for everyone until the next publish; and in reload mode, read after the reload).
    request.state.content_generation, library = store.current()
    request.state.author_problems = store.problems
    return library


async def module_page(request: Request) -> Response:
    library = current_library(request)
    course = library.courses.get(request.path_params["course_id"])
    module = course.module(request.path_params["module_id"]) if course else None
    if course is None or module is None:
        raise HTTPException(status_code=404)
    viewer = getattr(request.state, "viewer", None)
    lang: str = request.state.lang
    version = request.query_params.get("version")  # only ever a dict key below
    shown = module.versions.get(version or "") or module.version_for(lang)
    # Opening the page counts as reading the module and the version shown (each once; later
    # visits are known in memory).
    if viewer is not None and not quizzes.known_read(state.database(request), viewer, module, shown):
        await run_in_threadpool(quizzes.record_read, state.database(request), viewer, module, utcnow(), shown)
    return state.templates(request).render(
        request,
        "content/module.html",
        _module_context(library, course, module, shown),
        cache_key=(request.state.content_generation, course.id, module.id, shown.lang),
    )


def _module_context(
    library: Library, course: Course, module: Module, shown: ModuleVersion
) -> dict[str, object]:
    index = module.position - 1
    return {
        "course": course,
        "module": module,
        "shown": shown,
        "previous": course.modules[index - 1] if index > 0 else None,
        "next": course.modules[index + 1] if index + 1 < len(course.modules) else None,
        "regulations": [(code, library.regulations[code]) for code in module.regulations],
        "section": "courses",
        "library": library,
        "paper_languages": library.paper_languages.get(("practice", module.id), ()),
    }


async def catalogue(request: Request) -> Response:
    library = current_library(request)
    groups = []
    for domain in DOMAINS:
        courses = [c for c in library.courses.values() if c.domain == domain]
        if courses:
            groups.append((domain, courses))
    return state.templates(request).render(
        request,
        "content/catalogue.html",
        {"groups": groups, "section": "courses"},
        cache_key=(request.state.content_generation,),
    )


async def course_page(request: Request) -> Response:
    library = current_library(request)
    course = library.courses.get(request.path_params["course_id"])
    if course is None:
        raise HTTPException(status_code=404)
    viewer = getattr(request.state, "viewer", None)
    done: frozenset[str] = frozenset()
    practised: frozenset[str] = frozenset()
    if viewer is not None:
        done, practised = await unit.run(request, _progress, request, viewer.id, course)
    return state.templates(request).render(
        request,
        "content/course.html",
        {
            "course": course,
            "section": "courses",
            "done": done,
            "practised": practised,
            "library": library,
            "paper_languages": library.paper_languages.get(("exam", course.id), ()),
        },
        # The ticks are all that differs between readers: a handful of variants per course.
        cache_key=(request.state.content_generation, course.id, done, practised),
    )


def _progress(request: Request, user_id: int, course: Course) -> tuple[frozenset[str], frozenset[str]]:
    """The modules the reader completed (read, and practice passed where there is one) and the
    modules whose practice quiz they passed."""
    return quizzes.course_progress(session_of(request), user_id, course)


async def course_asset(request: Request) -> Response:
    library = current_library(request)
    course_id = request.path_params["course_id"]
    if course_id not in library.courses:
        raise HTTPException(status_code=404)
    assets = (state.settings(request).courses_dir / course_id / "assets").resolve()
    try:
        target = (assets / request.path_params["path"]).resolve()
        is_file = Path(target).is_file()
    except (OSError, ValueError):  # NUL bytes, over-long names
        raise HTTPException(status_code=404) from None
    if not target.is_relative_to(assets) or target.suffix.lower() not in ASSET_SUFFIXES:
        raise HTTPException(status_code=404)
    if is_file:
        return FileResponse(target, headers=ASSET_HEADERS)
    # Not a file: perhaps an image uploaded in the browser (trainer.content.assets), by its plain name.
    name = request.path_params["path"]
    if not uploaded_assets.NAME.match(name):
        raise HTTPException(status_code=404)
    viewer = getattr(request.state, "viewer", None)
    trainer = viewer is not None and viewer.has_role("trainer")
    found = await unit.run(request, _uploaded, request, course_id, name, trainer)
    if found is None:
        raise HTTPException(status_code=404)
    data, media_type, sha256, published = found
    headers = {**ASSET_HEADERS, "ETag": f'"{sha256}"'}
    if not published:
        # Seen by trainers only, in a draft's preview: no shared cache may keep it for others.
        headers["Cache-Control"] = "private, no-store"
    return Response(data, media_type=media_type, headers=headers)


def _uploaded(
    request: Request, course_id: str, name: str, unpublished_too: bool
) -> tuple[bytes, str, str, bool] | None:
    asset = uploaded_assets.find(session_of(request), course_id, name, unpublished_too=unpublished_too)
    if asset is None:
        return None
    return asset.data, asset.media_type, asset.sha256, asset.published_at is not None


async def search(request: Request) -> Response:
    library = current_library(request)
    query = request.query_params.get("q", "").strip()
    if len(query) > MAX_QUERY_LENGTH:
        raise HTTPException(status_code=400)
    hits = library.search.search(query, prefer_lang=request.state.lang) if query else []
    return state.templates(request).render(
        request, "content/search.html", {"query": query, "hits": hits, "library": library}
    )


# The module page first: it is the most requested. "/courses/x/assets" (one segment) reaches it
# and is a 404, since "assets" is a reserved module id.
routes: list[BaseRoute] = [
    page("/courses/{course_id}/{module_id}", module_page, access=Access.LIBRARY),
    page("/courses", catalogue, access=Access.LIBRARY),
    page("/courses/{course_id}", course_page, access=Access.LIBRARY),
    page("/courses/{course_id}/assets/{path:path}", course_asset, access=Access.LIBRARY),
    page("/search", search, access=Access.LIBRARY),
]
