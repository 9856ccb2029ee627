"""Quiz pages: start a practice quiz or the final exam, answer (with or without JavaScript),
submit, and read the review. Same services and rules as the JSON API.

Reading pages pass the request's unit of work (`session_of(request)`) to the services. Starting,
saving answers and submitting call exam day's hot paths, which run short transactions of their
own (trainer.quizzes.service's docstring lists them): a form post calls them before it first
touches its own unit, which on SQLite would take the one write lock they need. Flags, and the
attempt shown again beside a refused form, use the post's unit after them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access
from trainer.config import SUPPORTED_LANGUAGES
from trainer.content.library import Library
from trainer.content.store import content_of
from trainer.db import utcnow
from trainer.errors import DomainError
from trainer.i18n import N_
from trainer.quizzes import flags, service, snapshot
from trainer.web import state
from trainer.web.i18n import translations
from trainer.web.pages import id_param, page, viewer_of
from trainer.web.unit import SAFE_METHODS, session_of


def _certifying(request: Request) -> service.Certifying:
    # As the API's `certifying`: pages and the API do not import each other.
    return service.Certifying(content_of(request).library, state.settings(request).certificate_prefix)


def _attempt_id(request: Request) -> int:
    return id_param(request, "attempt_id")


def paper_lang(request: Request) -> str:
    """The language a new paper is served in: the start form's choice (offered where the
    questions are translated), else the page's."""
    chosen = request.state.form.get("lang")
    if chosen is None or chosen == "":
        return str(request.state.lang)
    if chosen not in SUPPORTED_LANGUAGES:
        raise HTTPException(status_code=400, detail=f"lang must be one of: {', '.join(SUPPORTED_LANGUAGES)}")
    return str(chosen)


def start_practice(request: Request) -> Response:
    viewer = viewer_of(request)
    lang = paper_lang(request)
    attempt_id = service.start_practice(
        state.database(request),
        content_of(request).library,
        viewer,
        request.path_params["module_id"],
        utcnow(),
        lang=lang,
    )
    return RedirectResponse(f"/attempts/{attempt_id}", status_code=303)


def start_exam(request: Request) -> Response:
    viewer = viewer_of(request)
    course_id = request.path_params["course_id"]
    lang = paper_lang(request)
    # A course in `mode: sittings`: the code of the sitting, where it has one (the course page asks).
    access_code = str(request.state.form.get("access_code", ""))[:32] or None
    try:
        attempt_id = service.start_exam(
            state.database(request),
            content_of(request).library,
            viewer,
            course_id,
            utcnow(),
            prefix=state.settings(request).certificate_prefix,
            lang=lang,
            access_code=access_code,
        )
    except DomainError as error:
        # Not a bare refusal: the page lists the modules still to complete, or when to retake.
        return _refused(request, course_id, error)
    return RedirectResponse(f"/attempts/{attempt_id}", status_code=303)


def _refused(request: Request, course_id: str, error: DomainError) -> Response:
    library = content_of(request).library
    course = library.courses.get(course_id)
    if course is None:
        raise HTTPException(status_code=404)
    missing = [course.module(m) for m in error.extra.get("missing_modules", [])]
    following = error.extra.get("next_sitting")  # a sittings exam's refusal: the person's next sitting
    late_entry_until = error.extra.get("late_entry_until")
    return state.templates(request).render(
        request,
        "quizzes/refused.html",
        {
            "course": course,
            "message": error.text(translations(request.state.lang).gettext),
            "code": error.code,
            "missing": missing,
            "retry_after": error.extra.get("retry_after"),
            "next_sitting": (
                {**following, "opens_at": datetime.fromisoformat(following["opens_at"])}
                if following
                else None
            ),
            "late_entry_until": datetime.fromisoformat(late_entry_until) if late_entry_until else None,
        },
        status_code=error.status,
    )


# A problem with one typed answer: a message (translated where shown) and its placeholders.
FieldProblem = tuple[str, dict[str, str]]
Problems = dict[int, FieldProblem]

# Shown for true/false options, whose text is "True"/"False" in every paper.
TRUTH_LABELS = (N_("True"), N_("False"))


def _view(request: Request, attempt_id: int) -> dict[str, Any]:
    """The attempt as its owner sees it now, an exam past its deadline graded first: by a GET in
    a short write of its own (its unit only reads), after a form post in the post's unit."""
    viewer, now, certify = viewer_of(request), utcnow(), _certifying(request)
    if request.method in SAFE_METHODS:
        service.close_overdue(state.database(request), now, user_id=viewer.id, certify=certify)
    else:
        service.close_overdue_in(session_of(request), now, user_id=viewer.id, certify=certify)
    return service.attempt_view(session_of(request), viewer, attempt_id, now)


def _page_lang(view: dict[str, Any]) -> str | None:
    """A paper's page is in the paper's language, every label of it (None: the reader's)."""
    return str(view["lang"]) if view.get("lang_stored") else None


def navigator(view: dict[str, Any], flagged: set[int]) -> list[dict[str, Any]]:
    """One entry per question: its number and whether it is answered and flagged."""
    return [
        {"slot": q["slot"], "answered": q.get("response") is not None, "flagged": q["slot"] in flagged}
        for q in view["questions"]
    ]


def _in_readers_language(view: dict[str, Any], lang: str, library: Library) -> None:
    """Names in a review as the reader reads them: citations with the title in their language
    and the edition the paper cited; tags and regulations of the by-topic breakdown by name."""
    snapshot.refs_for_reader(view["questions"], lang, library)
    breakdown = view.get("breakdown")
    if breakdown is not None:
        breakdown["tags"] = [{**row, "name": library.tag_name(row["tag"], lang)} for row in breakdown["tags"]]
        breakdown["regulations"] = [
            {**row, "title": library.regulation_title(row["reg"], lang)}
            if row["reg"] in library.regulations
            else row
            for row in breakdown["regulations"]
        ]


def attempt_page(
    request: Request,
    *,
    errors: Problems | None = None,
    typed: dict[str, str] | None = None,
    unsaved: dict[int, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The attempt: the paper to answer while open, the result and review once graded.

    `errors`, `typed` and `unsaved` re-show a rejected form: each rejected answer as it was
    typed, with the reason beside it; the answers a refusal kept from being stored as they were
    given (the navigator still says what is stored); the others as saved."""
    view = _view(request, _attempt_id(request))
    db = session_of(request)
    library = content_of(request).library
    _in_readers_language(view, _page_lang(view) or request.state.lang, library)
    course = library.courses.get(view["course_id"])
    module = library.modules.get(view["module_id"] or "")
    open_ = view["status"] == "in_progress"
    flagged = flags.flagged_slots(db, view["id"]) if open_ else set()
    closing = None if open_ else service.closing_of(db, view["id"])
    entries = navigator(view, flagged)
    if open_ and unsaved:
        view = {**view, "questions": [_as_given(q, unsaved) for q in view["questions"]]}
    response = state.templates(request).render(
        request,
        "quizzes/attempt.html",
        {
            "attempt": view,
            "course": course,
            "module": module,
            "errors": errors or {},
            "typed": typed or {},
            "flagged": flagged,
            "navigator": entries,
            "closing": closing,
            "now": utcnow(),
        },
        status_code=status_code,
        lang=_page_lang(view),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _as_given(question: dict[str, Any], unsaved: dict[int, Any]) -> dict[str, Any]:
    """A question still to answer, with the response the refused form gave it (in the served
    shape the page shows); an answered practice question shows its stored answer and review."""
    if question["slot"] not in unsaved or "correct" in question:
        return question
    return {**question, "response": unsaved[question["slot"]]}


def confirm_page(request: Request) -> Response:
    """Before an exam is handed in: what is unanswered and what was flagged, each a link back,
    and one deliberate "Hand in" (a double-clicked Submit only ever lands here)."""
    attempt_id = _attempt_id(request)
    view = _view(request, attempt_id)
    if view["status"] != "in_progress":
        return RedirectResponse(f"/attempts/{attempt_id}", status_code=303)
    flagged = flags.flagged_slots(session_of(request), attempt_id)
    entries = navigator(view, flagged)
    library = content_of(request).library
    response = state.templates(request).render(
        request,
        "quizzes/confirm.html",
        {
            "attempt": view,
            "course": library.courses.get(view["course_id"]),
            "module": library.modules.get(view["module_id"] or ""),
            "unanswered": [e["slot"] for e in entries if not e["answered"]],
            "flagged_slots": [e["slot"] for e in entries if e["flagged"]],
            "answered": sum(1 for e in entries if e["answered"]),
            "total": len(entries),
            "now": utcnow(),
        },
        lang=_page_lang(view),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


_NUMBER = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(.*)", re.IGNORECASE)
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)")


def _unit_form(unit: str) -> str:
    """A unit as compared: NFKC (m³ -> m3, full-width letters), case and spaces ignored."""
    return "".join(unicodedata.normalize("NFKC", unit).casefold().split())


def parse_numeric(raw: str, units: list[str], chosen: str | None) -> tuple[float, str | None]:
    """A typed number, with or without a unit after it: "1080", "1,080", "0,5", "0.5%",
    "1080 m3/min", full-width "１０８０" or "０．５％". A typed unit must be one the question
    takes (and then wins over the unit list); without one, the chosen unit applies.

    A comma grouping thousands ("1,080", "12,500.5") is dropped; any other comma is a decimal
    comma ("0,5"). Raises ValueError with the problem to show."""
    text = unicodedata.normalize("NFKC", raw).strip().replace("\u2212", "-")
    grouped = _GROUPED.match(text)
    if grouped:
        text = grouped.group().replace(",", "") + text[grouped.end() :]
    else:
        text = text.replace(",", ".", 1) if re.match(r"[+-]?\d*,\d", text) else text
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise ValueError(N_("Enter a number, such as 12.5 (a unit after it is fine)."))
    value = float(match.group(1))
    typed_unit = match.group(2).strip()
    if not typed_unit:
        return value, chosen
    for unit in units:
        if _unit_form(unit) == _unit_form(typed_unit):
            return value, unit
    if not units:
        raise ValueError(N_("Type the number only: this answer takes no unit."))
    raise ValueError(N_("This answer takes the units %(units)s; the unit typed was not one of them."))


def responses_from_form(
    form: FormData, questions: list[dict[str, Any]], *, while_typing: bool = False
) -> tuple[dict[int, Any], Problems]:
    """Each answered question's response in the API's JSON shape, and per-slot input problems.

    `while_typing` (autosave): an order question whose positions are not yet each given once
    (blank, or given twice on the way, as arrow keys on a select do) is still being numbered:
    it is left unsaved, without an error. Save and Submit report it."""
    found: dict[int, Any] = {}
    errors: Problems = {}
    for question in questions:
        slot = question["slot"]
        name = f"q{slot}"
        kind = question["type"]
        if kind in ("single", "truefalse", "multi"):
            selected = [v for v in form.getlist(name) if isinstance(v, str)]
            if selected:
                found[slot] = {"selected": selected}
        elif kind == "numeric":
            raw = str(form.get(f"{name}-value", "")).strip()
            if raw:
                units = list(question.get("units") or [])
                # A translated paper lists its unit labels; the source's units typed still count.
                typed_units = units + [u for u in question.get("unit_labels") or {} if u not in units]
                chosen = str(form.get(f"{name}-unit", "")) or None
                try:
                    value, unit = parse_numeric(raw, typed_units, chosen)
                except ValueError as problem:
                    errors[slot] = (str(problem), {"units": ", ".join(units)})
                    continue
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
                        errors[slot] = (N_("Give each position once."), {})
                    continue
                found[slot] = {"order": sorted(positions, key=lambda key: int(positions[key]))}
        elif kind == "match":
            pairs = {left["key"]: str(form.get(f"{name}-{left['key']}", "")) for left in question["left"]}
            chosen_pairs = {left: right for left, right in pairs.items() if right}
            if chosen_pairs:
                found[slot] = {"pairs": chosen_pairs}
    return found, errors


@dataclass(frozen=True)
class FormSave:
    """What saving an answer form came to."""

    attempt_id: int
    kind: str  # "exam" or "practice"
    errors: Problems  # by slot: what to say beside the question
    # The answers read from the form but not stored, because the service refused one of them:
    # the page shows them again as given, for the next save.
    unsaved: dict[int, Any] = field(default_factory=dict)


def _save_form(request: Request, *, while_typing: bool | None = None) -> FormSave:
    """Save the answers in the posted form through one service call, in one transaction: all of
    them or, if the service refuses any one (a key not on the paper, a practice question already
    checked), none. An answer that cannot be read (a number that is not one, positions given
    twice) never reaches the service: it is reported beside its question and the others are
    saved, so that a slip in one field never costs the rest at an autosave or at time-up. The
    paper comes from the process's cache."""
    viewer = viewer_of(request)
    attempt_id = _attempt_id(request)
    database = state.database(request)
    kind, questions = service.answer_form(database, viewer, attempt_id)
    if while_typing is None:
        # quiz.js marks its background saves: they must not nag about an answer still being given.
        while_typing = request.state.form.get("autosave") == "1"
    found, errors = responses_from_form(request.state.form, questions, while_typing=while_typing)
    if not found:
        return FormSave(attempt_id, kind, errors)
    try:
        service.save_answers(database, viewer, attempt_id, found, now=utcnow())
    except DomainError as error:
        slot = error.extra.get("slot")
        if error.status == 409 and not error.extra.get("locked"):
            return FormSave(attempt_id, kind, errors)  # closed meanwhile: the page shows the result
        if not isinstance(slot, int) or slot not in found:
            raise
        errors[slot] = (error.message, {key: str(value) for key, value in error.extra.items()})
        return FormSave(attempt_id, kind, errors, unsaved=found)
    return FormSave(attempt_id, kind, errors)


def _typed(request: Request) -> dict[str, str]:
    form: FormData = request.state.form
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _form_again(request: Request, saved: FormSave) -> Response:
    """The attempt page again, each problem beside its question and the form as it was posted."""
    return attempt_page(
        request, errors=saved.errors, typed=_typed(request), unsaved=saved.unsaved, status_code=400
    )


def save_answers(request: Request) -> Response:
    saved = _save_form(request)
    if saved.errors:
        return _form_again(request, saved)
    attempt_id = saved.attempt_id
    checked = str(request.state.form.get("check", ""))  # a practice question's "Check answer"
    anchor = f"question-{checked}" if checked.isdigit() else "saved"
    return RedirectResponse(f"/attempts/{attempt_id}#{anchor}", status_code=303)


def toggle_flag(request: Request) -> Response:
    """The "Flag for review" button: it also saves what the form holds (without JavaScript
    this post is the page's only trip to the server), then sets the flag as the button says
    ("<slot>-on" or "<slot>-off", so a repeated click changes nothing more)."""
    slot, _, wanted = str(request.state.form.get("flag", "")).partition("-")
    if not slot.isdigit() or wanted not in ("on", "off"):  # checked first: a bad post saves nothing
        raise HTTPException(status_code=400, detail="flag must be <slot>-on or <slot>-off")
    saved = _save_form(request, while_typing=True)
    attempt_id = saved.attempt_id
    try:
        flags.set_flag(
            session_of(request),
            viewer_of(request),
            attempt_id,
            int(slot),
            flagged=wanted == "on",
            now=utcnow(),
        )
    except DomainError as error:
        if error.status != 409:
            raise
        # Closed meanwhile: the attempt page shows the result.
    if saved.errors:
        return _form_again(request, saved)
    return RedirectResponse(f"/attempts/{attempt_id}#question-{slot}", status_code=303)


def submit(request: Request) -> Response:
    """Submit: saves the form, then for an exam goes to the confirmation page; only its "Hand
    in" (`handin=1`) grades. At time-up the page's script posts `timeup=1`: whatever it holds
    is saved as autosave would, and the exam is handed in as of its deadline."""
    form = request.state.form
    time_up = form.get("timeup") == "1"
    saved = _save_form(request, while_typing=True if time_up else None)
    attempt_id = saved.attempt_id
    if saved.errors and not time_up:
        return _form_again(request, saved)
    if not time_up and saved.kind == "exam" and form.get("handin") != "1":
        return RedirectResponse(f"/attempts/{attempt_id}/submit", status_code=303)
    # At time-up the service hands the exam in as of its deadline, or not at all if the page's
    # clock ran fast (service.TIME_UP_SLACK): either way the attempt page shows where it stands.
    service.submit(
        state.database(request),
        viewer_of(request),
        attempt_id,
        utcnow(),
        certify=_certifying(request),
        time_up=time_up,
    )
    return RedirectResponse(f"/attempts/{attempt_id}", status_code=303)


def my_results(request: Request) -> Response:
    viewer = viewer_of(request)
    library = content_of(request).library
    db = session_of(request)
    scores = service.scores_of(db, library, viewer.id)
    attempts = service.my_attempts(db, viewer)
    response = state.templates(request).render(
        request, "quizzes/results.html", {"scores": scores, "library": library, "attempts": attempts[:50]}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[BaseRoute] = [
    page("/me/results", my_results, access=Access.SIGNED_IN),
    page("/modules/{module_id}/practice", start_practice, access=Access.SIGNED_IN, methods=("POST",)),
    page("/courses/{course_id}/exam", start_exam, access=Access.SIGNED_IN, methods=("POST",), exam_work=True),
    page("/attempts/{attempt_id}", attempt_page, access=Access.SIGNED_IN, exam_work=True),
    page(
        "/attempts/{attempt_id}/answers",
        save_answers,
        access=Access.SIGNED_IN,
        methods=("POST",),
        exam_work=True,
    ),
    page("/attempts/{attempt_id}/flag", toggle_flag, access=Access.SIGNED_IN, methods=("POST",)),
    page("/attempts/{attempt_id}/submit", confirm_page, access=Access.SIGNED_IN),
    page("/attempts/{attempt_id}/submit", submit, access=Access.SIGNED_IN, methods=("POST",), exam_work=True),
]
