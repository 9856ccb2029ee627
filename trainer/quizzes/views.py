"""Quiz pages: start a practice quiz or the final exam, answer (with or without JavaScript),
submit, and read the review. Same services and rules as the JSON API."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.db import utcnow
from trainer.people.access import Access
from trainer.quizzes import service
from trainer.quizzes.api import certifying
from trainer.quizzes.models import Attempt
from trainer.web import state
from trainer.web.pages import id_param, page, viewer_of
from trainer.web.templating import N_


def _attempt_id(request: Request) -> int:
    return id_param(request, "attempt_id")


def start_practice(request: Request) -> Response:
    viewer = viewer_of(request)
    try:
        attempt_id = service.start_practice(
            state.database(request),
            state.content(request).library,
            viewer,
            request.path_params["module_id"],
            utcnow(),
        )
    except service.QuizError as error:
        raise HTTPException(status_code=error.status, detail=error.message) from None
    return RedirectResponse(f"/attempts/{attempt_id}", status_code=303)


def start_exam(request: Request) -> Response:
    viewer = viewer_of(request)
    course_id = request.path_params["course_id"]
    try:
        attempt_id = service.start_exam(
            state.database(request),
            state.content(request).library,
            viewer,
            course_id,
            utcnow(),
            prefix=state.settings(request).certificate_prefix,
        )
    except service.QuizError as error:
        return _refused(request, course_id, error)
    return RedirectResponse(f"/attempts/{attempt_id}", status_code=303)


def _refused(request: Request, course_id: str, error: service.QuizError) -> Response:
    library = state.content(request).library
    course = library.courses.get(course_id)
    if course is None:
        raise HTTPException(status_code=404)
    missing = [course.module(m) for m in error.extra.get("missing_modules", [])]
    return state.templates(request).render(
        request,
        "quizzes/refused.html",
        {
            "course": course,
            "message": error.message,
            "missing": missing,
            "retry_after": error.extra.get("retry_after"),
        },
        status_code=error.status,
    )


def attempt_page(
    request: Request, *, errors: dict[int, str] | None = None, status_code: int = 200
) -> Response:
    viewer = viewer_of(request)
    try:
        view = service.attempt_view(
            state.database(request), viewer, _attempt_id(request), utcnow(), certify=certifying(request)
        )
    except service.QuizError as error:
        raise HTTPException(status_code=error.status) from None
    library = state.content(request).library
    course = library.courses.get(view["course_id"])
    module = library.modules.get(view["module_id"] or "")
    response = state.templates(request).render(
        request,
        "quizzes/attempt.html",
        {"attempt": view, "course": course, "module": module, "errors": errors or {}, "now": utcnow()},
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def responses_from_form(
    form: FormData, questions: list[dict[str, Any]], *, while_typing: bool = False
) -> tuple[dict[int, Any], dict[int, str]]:
    """Each answered question's response in the API's JSON shape, and per-slot input errors.

    `while_typing` (autosave): an order question whose positions are not yet each given once
    (blank, or given twice on the way, as arrow keys on a select do) is still being numbered:
    it is left unsaved, without an error. Save and Submit report it."""
    found: dict[int, Any] = {}
    errors: dict[int, str] = {}
    for question in questions:
        slot = question["slot"]
        name = f"q{slot}"
        kind = question["type"]
        if kind in ("single", "truefalse", "multi"):
            selected = [v for v in form.getlist(name) if isinstance(v, str)]
            if selected:
                found[slot] = {"selected": selected}
        elif kind == "numeric":
            raw = str(form.get(f"{name}-value", "")).strip().replace(",", ".")
            if raw:
                try:
                    value = float(raw)
                except ValueError:
                    errors[slot] = N_("Enter a number.")
                    continue
                unit = str(form.get(f"{name}-unit", "")) or None
                found[slot] = {"value": value, **({"unit": unit} if unit else {})}
        elif kind == "text":
            text = str(form.get(f"{name}-text", "")).strip()
            if text:
                found[slot] = {"text": text}
        elif kind == "order":
            positions = {
                item["key"]: str(form.get(f"{name}-{item['key']}", "")) for item in question["items"]
            }
            if any(positions.values()):
                if sorted(positions.values()) != [str(i) for i in range(1, len(positions) + 1)]:
                    if not while_typing:
                        errors[slot] = N_("Give each position once.")
                    continue
                found[slot] = {"order": sorted(positions, key=lambda key: int(positions[key]))}
        elif kind == "match":
            pairs = {left["key"]: str(form.get(f"{name}-{left['key']}", "")) for left in question["left"]}
            chosen = {left: right for left, right in pairs.items() if right}
            if chosen:
                found[slot] = {"pairs": chosen}
    return found, errors


def _save_form(request: Request) -> tuple[dict[int, str], int]:
    """Save every answered question in the posted form; returns errors and the attempt id."""
    viewer = viewer_of(request)
    attempt_id = _attempt_id(request)
    database = state.database(request)
    with database.session() as db:
        attempt = db.get(Attempt, attempt_id)
        if attempt is None or attempt.user_id != viewer.id:
            raise HTTPException(status_code=404)
        questions = json.loads(attempt.snapshot)
        open_ = attempt.status == "in_progress"
    if not open_:
        return {}, attempt_id
    # quiz.js marks its background saves: they must not nag about an answer still being given.
    while_typing = request.state.form.get("autosave") == "1"
    found, errors = responses_from_form(request.state.form, questions, while_typing=while_typing)
    now = utcnow()
    for slot, response in found.items():
        try:
            service.save_answer(database, viewer, attempt_id, slot, response=response, now=now)
        except service.QuizError as error:
            if error.status == 409:  # closed meanwhile (deadline): stop, the page says so
                break
            errors[slot] = error.message
    return errors, attempt_id


def save_answers(request: Request) -> Response:
    errors, attempt_id = _save_form(request)
    if errors:
        return attempt_page(request, errors=errors, status_code=400)
    return RedirectResponse(f"/attempts/{attempt_id}#saved", status_code=303)


def submit(request: Request) -> Response:
    errors, attempt_id = _save_form(request)
    if errors:
        return attempt_page(request, errors=errors, status_code=400)
    try:
        service.submit(
            state.database(request), viewer_of(request), attempt_id, utcnow(), certify=certifying(request)
        )
    except service.QuizError as error:
        raise HTTPException(status_code=error.status) from None
    return RedirectResponse(f"/attempts/{attempt_id}", status_code=303)


def my_results(request: Request) -> Response:
    viewer = viewer_of(request)
    library = state.content(request).library
    scores = service.scores_of(state.database(request), library, viewer.id)
    attempts = service.my_attempts(state.database(request), viewer)
    response = state.templates(request).render(
        request, "quizzes/results.html", {"scores": scores, "library": library, "attempts": attempts[:50]}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[BaseRoute] = [
    page("/me/results", my_results, access=Access.SIGNED_IN),
    page("/modules/{module_id}/practice", start_practice, access=Access.SIGNED_IN, methods=("POST",)),
    page("/courses/{course_id}/exam", start_exam, access=Access.SIGNED_IN, methods=("POST",)),
    page("/attempts/{attempt_id}", attempt_page, access=Access.SIGNED_IN),
    page("/attempts/{attempt_id}/answers", save_answers, access=Access.SIGNED_IN, methods=("POST",)),
    page("/attempts/{attempt_id}/submit", submit, access=Access.SIGNED_IN, methods=("POST",)),
]
