"""Pages of the course library: catalogue, course, module, search, and course assets.

These routes only read the in-memory library, so they are `async def` and never block the event
loop on the database or disk (assets are streamed by Starlette's FileResponse).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from trainer.content.library import Library
from trainer.content.loader import ASSET_SUFFIXES
from trainer.content.schemas import DOMAINS
from trainer.content.store import ContentStore

router = APIRouter()

# Files served from a course's assets/ folder are never treated as a page of this site: an SVG
# opened directly cannot run script, and nothing may be framed or sniffed.
ASSET_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
    "Cache-Control": "public, max-age=300",
}
MAX_QUERY_LENGTH = 200


def current_library(request: Request) -> Library:
    store: ContentStore = request.app.state.content
    library = store.library
    request.state.author_problems = store.problems
    return library


LibraryDep = Annotated[Library, Depends(current_library)]


@router.get("/courses", response_class=HTMLResponse)
async def catalogue(request: Request, library: LibraryDep) -> HTMLResponse:
    groups = []
    for domain in DOMAINS:
        courses = [c for c in library.courses.values() if c.domain == domain]
        if courses:
            groups.append((domain, courses))
    return request.app.state.templates.render(request, "content/catalogue.html", {"groups": groups})


@router.get("/courses/{course_id}", response_class=HTMLResponse)
async def course_page(request: Request, course_id: str, library: LibraryDep) -> HTMLResponse:
    course = library.courses.get(course_id)
    if course is None:
        raise HTTPException(status_code=404)
    return request.app.state.templates.render(request, "content/course.html", {"course": course})


@router.get("/courses/{course_id}/assets/{path:path}")
async def course_asset(course_id: str, path: str, library: LibraryDep, request: Request) -> FileResponse:
    course = library.courses.get(course_id)
    if course is None:
        raise HTTPException(status_code=404)
    assets = (request.app.state.settings.courses_dir / course_id / "assets").resolve()
    try:
        target = (assets / path).resolve()
    except (OSError, ValueError):  # NUL bytes, over-long names
        raise HTTPException(status_code=404) from None
    if (
        not target.is_relative_to(assets)
        or target.suffix.lower() not in ASSET_SUFFIXES
        or not Path(target).is_file()
    ):
        raise HTTPException(status_code=404)
    return FileResponse(target, headers=ASSET_HEADERS)


@router.get("/courses/{course_id}/{module_id}", response_class=HTMLResponse)
async def module_page(
    request: Request,
    course_id: str,
    module_id: str,
    library: LibraryDep,
    version: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    course = library.courses.get(course_id)
    module = course.module(module_id) if course else None
    if course is None or module is None:
        raise HTTPException(status_code=404)
    lang: str = request.state.lang
    shown = module.versions.get(version or "") or module.version_for(lang)
    index = module.position - 1
    context = {
        "course": course,
        "module": module,
        "shown": shown,
        "previous": course.modules[index - 1] if index > 0 else None,
        "next": course.modules[index + 1] if index + 1 < len(course.modules) else None,
        "regulations": [(code, library.regulations[code]) for code in module.regulations],
    }
    return request.app.state.templates.render(request, "content/module.html", context)


@router.get("/search", response_class=HTMLResponse)
async def search(
    request: Request,
    library: LibraryDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH)] = "",
) -> HTMLResponse:
    query = q.strip()
    hits = library.search.search(query, prefer_lang=request.state.lang) if query else []
    return request.app.state.templates.render(
        request, "content/search.html", {"query": query, "hits": hits, "library": library}
    )
