"""Authoring, one question of a bank file draft as a form (issue 18): the form of its type
(trainer.content.question_forms; a scenario group's own fields too), or one entry of a
translation file's draft with the source's words beside each field
(trainer.content.translation_forms). No JavaScript needed; saving writes that question's (or
entry's) YAML into the draft, every other line of the file untouched, and goes back to the
draft's page, where the whole library is checked with it. Only the draft's author, while it is
being written.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access
from trainer.content import file_drafts, publishing, translations
from trainer.content import question_forms as qf
from trainer.content import translation_forms as tf
from trainer.content.bank_schemas import Numeric
from trainer.content.models import ContentDraft
from trainer.content.store import content_of
from trainer.errors import DomainError
from trainer.i18n import N_
from trainer.web import state
from trainer.web.pages import form_of, id_param, page, viewer_of
from trainer.web.unit import session_of

TYPE_LABELS = {
    "single": N_("Single choice"),
    "multi": N_("Multiple choice"),
    "truefalse": N_("True or false"),
    "numeric": N_("Number"),
    "text": N_("Short text"),
    "order": N_("Put in order"),
    "match": N_("Match pairs"),
    "scenario": N_("Scenario group"),
}
USE_LABELS = {
    "": N_("As the file's defaults say"),
    "both": N_("Practice and exams"),
    "exam": N_("Exams only"),
    "practice": N_("Practice only"),
}
SCORING_LABELS = {
    "": N_("All or nothing (default)"),
    "all_or_nothing": N_("All or nothing"),
    "partial": N_("Partial"),
}
NOT_FOUND = N_("There is no such question in this draft, or it is edited as YAML.")
UNREADABLE_TRANSLATIONS = N_(
    "The translation file's entries cannot be read, or the entry cannot be written in place: "
    "edit it in the YAML."
)
MAX_ROWS = 24  # options, items or pairs a form carries (the format allows at most 12)


def _draft(request: Request) -> ContentDraft:
    """The viewer's own bank file draft, while it can be changed."""
    viewer = viewer_of(request)
    draft = publishing.draft_for(session_of(request), id_param(request, "draft_id"))
    if draft.kind != "bank" or not publishing.is_question_file(draft.path):
        raise DomainError(404, "not_a_question_file", "This draft is not a question file.")
    publishing.check_editable(viewer, draft)
    return draft


def _which(request: Request, draft: ContentDraft) -> tuple[str | None, qf.QuestionForm]:
    """The question asked for (`?id=`: a question, a scenario group or one of its questions), or
    a new one of `?type=` (in the scenario `?scenario=`, if given; a new scenario group with its
    first question of `?first=`); its form as it is now."""
    question_id = request.query_params.get("id")
    if question_id:
        found = qf.find(draft.text, question_id)
        if found is None or not qf.form_covers(found.data):
            raise DomainError(404, "no_such_question", NOT_FOUND)
        return question_id, qf.form_of_question(found.data)
    kind = request.query_params.get("type", "")
    scenario = request.query_params.get("scenario")
    group = qf.find(draft.text, scenario) if scenario else None
    known = kind in qf.FORM_TYPES or (kind == "scenario" and _first_type(request) is not None)
    if not known or (scenario and (group is None or group.data.get("type") != "scenario")):
        raise DomainError(
            404, "no_such_question", "There is no such question in this draft, or it is edited as YAML."
        )
    return None, qf.blank_form(kind)


def _first_type(request: Request) -> str | None:
    """A new scenario group's first question's type (`?first=`), None when not a new group."""
    first = request.query_params.get("first", "")
    new_group = request.query_params.get("type") == "scenario" and "id" not in request.query_params
    return first if new_group and "scenario" not in request.query_params and first in qf.FORM_TYPES else None


def _rows(form: qf.QuestionForm) -> tuple[list[qf.Row], list[tuple[str, str]]]:
    """The form's rows and regulation rows, with spare empty ones to fill in."""
    refs = [line.partition(":") for line in form.refs.split("\n") if line.strip()]
    ref_rows = [(code.strip(), clause.strip()) for code, _, clause in refs] + [("", "")] * qf.SPARE_ROWS
    return list(form.rows) + [qf.Row() for _ in range(qf.SPARE_ROWS)], ref_rows


def _render(
    request: Request,
    draft: ContentDraft,
    question_id: str | None,
    form: qf.QuestionForm,
    errors: list[tuple[str, dict[str, str]]] | None = None,
    *,
    first_form: qf.QuestionForm | None = None,
) -> Response:
    library = content_of(request).library
    rows, ref_rows = _rows(form)
    first_rows, first_ref_rows = _rows(first_form or qf.QuestionForm())
    scenario = request.query_params.get("scenario") if question_id is None else None
    located = qf.locate(draft.text)
    group = next((q for q in located if q.id == question_id and form.type == "scenario"), None)
    context: dict[str, Any] = {
        "draft": draft,
        "question_id": question_id,
        "scenario": scenario,
        "sub_questions": [
            q for q in located if group is not None and q.path[:1] == group.path and len(q.path) == 2
        ],
        "form_types": qf.FORM_TYPES,
        "form": form,
        "rows": rows,
        "ref_rows": ref_rows,
        "first_form": first_form,  # a new scenario group's first question
        "first_rows": first_rows,
        "first_ref_rows": first_ref_rows,
        "regulations": library.regulations,
        "type_labels": TYPE_LABELS,
        "use_labels": USE_LABELS,
        "scoring_labels": SCORING_LABELS,
        "shown_path": publishing.shown_path(draft.path),
        "errors": errors or [],
    }
    return state.templates(request).render(
        request, "content/authoring/question.html", context, status_code=422 if errors else 200
    )


def show_question(request: Request) -> Response:
    draft = _draft(request)
    question_id, form = _which(request, draft)
    first = _first_type(request)
    return _render(request, draft, question_id, form, first_form=qf.blank_form(first) if first else None)


def _count(value: str) -> int:
    """How many numbered rows the form carried (a hidden field; anything else counts as none)."""
    return min(int(value), MAX_ROWS) if value.isdigit() else 0


def _posted(request: Request, kind: str, prefix: str = "") -> qf.QuestionForm:
    """The form as posted; `prefix` names a new scenario group's first question's fields."""
    values = {
        key.removeprefix(prefix): value for key, value in form_of(request).items() if key.startswith(prefix)
    }
    count = _count(values.get("rows", ""))
    refs = []
    for index in range(_count(values.get("ref_rows", ""))):
        code = values.get(f"ref_reg_{index}", "").strip()
        clause = values.get(f"ref_clause_{index}", "").strip()
        if code:
            refs.append(f"{code}: {clause}" if clause else code)
    return qf.QuestionForm(
        id=values.get("id", ""),
        type=kind,
        difficulty=values.get("difficulty", ""),
        stem=values.get("stem", ""),
        explanation=values.get("explanation", ""),
        refs="\n".join(refs),
        tags=values.get("tags", ""),
        domain=values.get("domain", ""),
        lang=values.get("lang", ""),
        use=values.get("use", "") if values.get("use", "") in qf.USES else "",
        excludes=values.get("excludes", ""),
        shuffle=values.get("shuffle") == "on",
        scoring=values.get("scoring", "") if values.get("scoring", "") in qf.SCORINGS else "",
        answer=("false" if values.get("answer") == "false" else "true") if kind == "truefalse" else "",
        value=values.get("value", ""),
        tolerance=values.get("tolerance", ""),
        unit=values.get("unit", ""),
        units=values.get("units", ""),
        accept=values.get("accept", ""),
        distractors=values.get("distractors", ""),
        rows=[
            qf.Row(
                values.get(f"row_key_{i}", ""),
                values.get(f"row_text_{i}", ""),
                values.get(f"row_correct_{i}") == "on",
                values.get(f"row_feedback_{i}", ""),
            )
            for i in range(count)
        ],
    )


def save_question(request: Request) -> Response:
    draft = _draft(request)
    question_id, current = _which(request, draft)
    form = _posted(request, current.type)
    first_type = _first_type(request)
    first = _posted(request, first_type, "first_") if first_type else None
    try:
        scenario = request.query_params.get("scenario") if question_id is None else None
        if first is not None:
            text = qf.put_group(draft.text, form, first)
        else:
            text = qf.put_question(draft.text, form, question_id, scenario)
    except qf.FormError as error:
        # Nothing saved: the form comes back as typed, with what to fix.
        return _render(request, draft, question_id, form, [(error.message, error.values)], first_form=first)
    except LookupError:
        raise DomainError(
            409, "questions_unreadable", "The file's questions cannot be read: fix it in the YAML first."
        ) from None
    publishing.save_draft(session_of(request), viewer_of(request), draft, text)
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}?done=saved#preview", status_code=303)


routes: list[BaseRoute] = [
    page("/trainer/authoring/drafts/{draft_id}/question", show_question, access=Access.TRAINER),
    page(
        "/trainer/authoring/drafts/{draft_id}/question",
        save_question,
        access=Access.TRAINER,
        methods=("POST",),
    ),
]


# -- one entry of a translation file -------------------------------------------------------------


def _translation_draft(request: Request) -> tuple[ContentDraft, str]:
    """The viewer's own draft of a translation file, while it can be changed, and the display
    name of the bank file it translates."""
    viewer = viewer_of(request)
    draft = publishing.draft_for(session_of(request), id_param(request, "draft_id"))
    source = publishing.translated_file(draft.path) if draft.kind == "bank" else None
    if source is None:
        raise DomainError(404, "not_a_translation_file", "This draft is not a translation file.")
    publishing.check_editable(viewer, draft)
    store = content_of(request)
    return draft, file_drafts.display_of(store.courses_dir, store.question_bank_dir, source)


def _source_model(request: Request, source: str) -> tuple[str, Any]:
    """The question (or scenario) of the source file asked for by `?id=`, as served now."""
    bank = content_of(request).library.bank
    question_id = request.query_params.get("id", "")
    if question_id not in bank.files.get(source, []):
        raise DomainError(404, "no_such_question", NOT_FOUND)
    found = bank.questions.get(question_id)
    return question_id, found.model if found is not None else bank.scenarios[question_id]


def _render_translation(
    request: Request,
    draft: ContentDraft,
    question_id: str,
    model: Any,
    form: tf.TranslationForm,
    *,
    errors: list[tuple[str, dict[str, str]]] | None = None,
) -> Response:
    context: dict[str, Any] = {
        "draft": draft,
        "question_id": question_id,
        "model": model,
        "units": translations.source_units(model) if isinstance(model, Numeric) else [],
        "form": form,
        "errors": errors or [],
        "current_hash": translations.source_hash(model),
        "shown_path": publishing.shown_path(draft.path),
        "source_lang": content_of(request).library.bank.source_lang(question_id),
    }
    return state.templates(request).render(
        request, "content/authoring/translation.html", context, status_code=422 if errors else 200
    )


def show_translation(request: Request) -> Response:
    draft, source = _translation_draft(request)
    question_id, model = _source_model(request, source)
    found = tf.entries(draft.text)
    if found is None:
        raise DomainError(409, "translations_unreadable", UNREADABLE_TRANSLATIONS)
    entry = next((e for e in found if e.question_id == question_id), None)
    if entry is not None and not tf.covers(entry.data):
        raise DomainError(404, "no_such_question", NOT_FOUND)
    form = tf.form_of_entry(entry.data if entry is not None else None)
    return _render_translation(request, draft, question_id, model, form)


def save_translation(request: Request) -> Response:
    draft, source = _translation_draft(request)
    question_id, model = _source_model(request, source)
    values = form_of(request)
    # Rows by the source's keys and positions: what the form showed.
    options = getattr(model, "options", None) or []
    items = getattr(model, "items", None) or []
    pairs = range(len(getattr(model, "pairs", None) or []))
    distractors = range(len(getattr(model, "distractors", None) or []))
    form = tf.TranslationForm(
        stem=values.get("stem", ""),
        explanation=values.get("explanation", ""),
        options={
            o.key: (values.get(f"opt_text_{o.key}", ""), values.get(f"opt_feedback_{o.key}", ""))
            for o in options
        },
        items={i.key: values.get(f"item_{i.key}", "") for i in items},
        pairs=[(values.get(f"pair_left_{n}", ""), values.get(f"pair_right_{n}", "")) for n in pairs],
        distractors=[values.get(f"distractor_{n}", "") for n in distractors],
        accept=values.get("accept", ""),
        unit_labels={
            unit: values.get(f"unit_label_{n}", "")
            for n, unit in enumerate(translations.source_units(model) if isinstance(model, Numeric) else [])
        },
        # Checked against the source as it is now: its hash, as `trainer translations --stamp` writes.
        source=translations.source_hash(model) if values.get("checked") == "on" else values.get("source", ""),
    )
    try:
        text = tf.put_entry(draft.text, question_id, form, model)
    except qf.FormError as error:
        # Nothing saved: the form comes back as typed, with what to fix.
        return _render_translation(
            request, draft, question_id, model, form, errors=[(error.message, error.values)]
        )
    except LookupError:
        raise DomainError(409, "translations_unreadable", UNREADABLE_TRANSLATIONS) from None
    publishing.save_draft(session_of(request), viewer_of(request), draft, text)
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}?done=saved#preview", status_code=303)


routes += [
    page("/trainer/authoring/drafts/{draft_id}/translation", show_translation, access=Access.TRAINER),
    page(
        "/trainer/authoring/drafts/{draft_id}/translation",
        save_translation,
        access=Access.TRAINER,
        methods=("POST",),
    ),
]
