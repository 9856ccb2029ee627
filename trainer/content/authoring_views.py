"""Authoring pages (issue 18): start a draft of a module, a course's course.yaml or a question bank
file; edit it (a module as a form of front-matter fields and the body, a YAML file as its text: no
JavaScript needed), see it rendered and checked, submit it;
another trainer reviews it (rendered text and a line diff), comments, requests changes or
approves, which publishes; every module's published versions, with their diffs, and restoring
one through the same review (modules by id, other files by path). Trainers and admins only;
drafts never reach an inspector.

Each handler translates HTTP to one service call (trainer.content.publishing decides who may
do what) and back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access, Viewer
from trainer.audit import service as audit
from trainer.content import assets as uploaded_assets
from trainer.content import (
    authoring,
    course_forms,
    file_drafts,
    new_courses,
    new_modules,
    publishing,
    question_forms,
)
from trainer.content.models import ContentDraft
from trainer.content.store import content_of
from trainer.errors import DomainError
from trainer.i18n import N_
from trainer.web import state
from trainer.web.i18n import translations
from trainer.web.pages import client_ip, form_of, id_param, page, viewer_of
from trainer.web.unit import session_of

STATUS_LABELS = {
    "editing": N_("Being written"),
    "submitted": N_("Waiting for review"),
    "changes_requested": N_("Changes requested"),
    "published": N_("Published"),
    "withdrawn": N_("Withdrawn"),
}
EVENT_LABELS = {
    "imported": N_("Opened from files by trainer content import --review"),
    "submitted": N_("Submitted for review"),
    "comment": N_("Comment"),
    "request_changes": N_("Changes requested"),
    "approve": N_("Approved and published"),
    "withdrawn": N_("Withdrawn"),
}
NOTICES = {
    "saved": N_("Draft saved."),
    "submitted": N_("Submitted for review."),
    "reviewed": N_("Your review is recorded."),
    "published": N_("Published: every app process serves it within a few seconds."),
    "withdrawn": N_("Draft withdrawn."),
    "uploaded": N_("Image uploaded. Paste its Markdown (under Images) into the text where it belongs."),
}
SUBMIT_REFUSED = N_("The draft cannot be submitted: the library would not load with it.")
LANGUAGES = {"en": N_("English"), "zh-CN": N_("Chinese")}


def _actor(request: Request, viewer: Viewer) -> audit.Actor:
    return audit.Actor(viewer.id, viewer.username, client_ip(request))


def _companion(request: Request, draft: ContentDraft) -> tuple[str, str, str] | None:
    """The file approval publishes with the draft (new_courses.companion), as served now."""
    store = content_of(request)
    return new_courses.companion(draft, store.overlay, store.courses_dir)


def _check(
    request: Request, draft: ContentDraft, companion: tuple[str, str, str] | None
) -> authoring.DraftCheck:
    """The draft checked against the library served now, with the draft's own uploaded images
    and its `companion` (`_companion`: a new module is checked with its course listing it, a new
    course with its first module, as approval would publish them); remembered per text, images
    and publish generation (a check is one library load)."""
    store = content_of(request)
    images = uploaded_assets.draft_overlay(session_of(request), draft)
    if companion is not None:
        images = {**images, companion[0]: companion[2]}
    seen = draft.text + "\0" + "\0".join(sorted(images))
    key = (draft.path, hashlib.sha256(seen.encode()).hexdigest(), store.published_generation)
    found = store.draft_checks.get(key)
    if found is not None:
        return found
    with store.draft_lock:
        if draft.kind == "module":
            found = authoring.check_module_draft(
                store.courses_dir,
                store.question_bank_dir,
                {**store.overlay, **images},
                path=draft.path,
                text=draft.text,
                item_id=draft.item_id,
                lang=draft.lang,
                cache=store.draft_cache,
            )
        else:
            found = file_drafts.check_file_draft(
                store.courses_dir,
                store.question_bank_dir,
                {**store.overlay, **images},
                kind=draft.kind,
                path=draft.path,
                text=draft.text,
                cache=store.draft_cache,
            )
        store.draft_checks.put(key, found)
    return found


def index(request: Request) -> Response:
    return _index_page(request)


def _index_page(
    request: Request,
    new: new_modules.NewModule | None = None,
    new_errors: list[tuple[str, dict[str, str]]] | None = None,
    new_course: new_courses.NewCourse | None = None,
) -> Response:
    viewer = viewer_of(request)
    mine, waiting = publishing.drafts_of(session_of(request), viewer)
    store = content_of(request)
    return state.templates(request).render(
        request,
        "content/authoring/index.html",
        {
            "new": new,
            "new_course": new_course,
            "new_errors": new_errors or [],
            "section": "authoring",
            "library": store.library,
            "bank_files": file_drafts.bank_files(store.question_bank_dir, store.overlay),
            "mine": mine,
            "waiting": waiting,
            "status_labels": STATUS_LABELS,
            "lang_labels": LANGUAGES,
        },
        status_code=422 if new_errors else 200,
    )


def start_new_module(request: Request) -> Response:
    """A new module's draft (the index page's form per course); bad input shows the index page
    again with what to fix and the form as typed, and creates nothing."""
    values = form_of(request)
    new = new_modules.NewModule(
        **{key: values.get(key, "").strip() for key in ("course_id", "module_id", "stem", "title", "lang")}
    )
    return _start_new(request, new_modules.start, new, {"new": new})


def start_new_course(request: Request) -> Response:
    """A new course's draft (the index page's form), as start_new_module."""
    values = form_of(request)
    new = new_courses.NewCourse(
        **{key: values.get(key, "").strip() for key in ("course_id", "title", "lang", "domain", "summary")}
    )
    return _start_new(request, new_courses.start, new, {"new_course": new})


def _start_new(
    request: Request, begin: Callable[..., ContentDraft], new: object, form: dict[str, Any]
) -> Response:
    viewer = viewer_of(request)
    store = content_of(request)
    try:
        draft = begin(
            session_of(request), _actor(request, viewer), viewer, library=store.library,
            courses_dir=store.courses_dir, question_bank_dir=store.question_bank_dir, new=new,
        )  # fmt: skip
    except new_modules.RefusedError as refused:
        return _index_page(request, new_errors=refused.problems, **form)
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}", status_code=303)


def start(request: Request) -> Response:
    viewer = viewer_of(request)
    form = form_of(request)
    store = content_of(request)
    if form.get("path"):  # a course.yaml or a question bank file
        draft = publishing.start_file_draft(
            session_of(request),
            _actor(request, viewer),
            viewer,
            courses_dir=store.courses_dir,
            question_bank_dir=store.question_bank_dir,
            path=form.get("path", "").strip(),
        )
        return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}", status_code=303)
    draft = publishing.start_draft(
        session_of(request),
        _actor(request, viewer),
        viewer,
        library=store.library,
        courses_dir=store.courses_dir,
        question_bank_dir=store.question_bank_dir,
        module_id=form.get("module_id", ""),
        lang=form.get("lang", ""),
    )
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}", status_code=303)


def _draft_page(
    request: Request,
    draft: ContentDraft,
    *,
    form: authoring.ModuleForm | None = None,
    errors: list[str] | None = None,
    course_form: course_forms.CourseForm | None = None,
    form_errors: list[tuple[str, dict[str, str]]] | None = None,
) -> Response:
    viewer = viewer_of(request)
    session = session_of(request)
    found = _companion(request, draft)
    check = _check(request, draft, found)
    editable = draft.author_id == viewer.id and draft.status in publishing.EDITABLE
    store = content_of(request)
    companion = found if draft.status in publishing.OPEN else None
    context: dict[str, Any] = {
        # A new module has no history page until it is published.
        "module_known": draft.item_id in store.library.modules,
        # A new module's course file listing it, a new course's first module: published with
        # it, so reviewed with it.
        "course_change": (
            (publishing.shown_path(companion[0]), authoring.line_diff(companion[1], companion[2]))
            if companion is not None
            else None
        ),
        "draft": draft,
        "form": form or (authoring.form_of_text(draft.text) if draft.kind == "module" else None),
        "shown_path": publishing.shown_path(draft.path),
        "check": check,
        "diff": authoring.line_diff(draft.base_text, draft.text),
        "events": publishing.events_of(session, draft),
        "author": publishing.author_name(session, draft.author_id),
        "editable": editable,
        "may_review": draft.author_id != viewer.id and draft.status == "submitted",
        "is_author": draft.author_id == viewer.id,
        "status_labels": STATUS_LABELS,
        "event_labels": EVENT_LABELS,
        "lang_labels": LANGUAGES,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "errors": errors or [],
        "regulations": content_of(request).library.regulations,
        "uploads": uploaded_assets.of_draft(session, draft),
        "max_image_mb": uploaded_assets.MAX_IMAGE_BYTES // (1024 * 1024),
        "form_questions": _form_questions(draft) if editable else set(),
        "form_types": question_forms.FORM_TYPES,
        "translate_ids": _translate_ids(request, draft) if editable else [],
        "course_form": course_form
        or (course_forms.form_of_course(draft.text) if draft.kind == "course" else None),
        "form_errors": form_errors or [],
        "reviews": course_forms.REVIEWS,
        "modes": course_forms.MODES,
        "requires": course_forms.REQUIRES,
        "spare_rows": course_forms.SPARE_ROWS,
        "course_translations": _course_languages(draft) if editable else [],
    }
    status = 422 if errors or form_errors else 200
    return state.templates(request).render(
        request, "content/authoring/draft.html", context, status_code=status
    )


def _course_languages(draft: ContentDraft) -> list[str]:
    """For a course draft, the languages its translation form offers (every one but its own)."""
    source = course_forms.source_words(draft.text) if draft.kind == "course" else None
    return [lang for lang in LANGUAGES if source is not None and lang != source[0]]


def _form_questions(draft: ContentDraft) -> set[str]:
    """The ids of a bank file draft's questions that a form edits (trainer.content.question_views);
    none for a translation file (edited as YAML)."""
    if draft.kind != "bank" or not publishing.is_question_file(draft.path):
        return set()
    return {
        str(q.data["id"]) for q in question_forms.locate(draft.text) if question_forms.form_covers(q.data)
    }


def _translate_ids(request: Request, draft: ContentDraft) -> list[str]:
    """For a translation file's draft, the ids of the questions it translates (the bank file's,
    in file order): each opens in the translation form (trainer.content.question_views)."""
    source = publishing.translated_file(draft.path) if draft.kind == "bank" else None
    if source is None:
        return []
    store = content_of(request)
    return list(
        store.library.bank.files.get(
            file_drafts.display_of(store.courses_dir, store.question_bank_dir, source), []
        )
    )


def show_draft(request: Request) -> Response:
    draft = publishing.draft_for(session_of(request), id_param(request, "draft_id"))
    return _draft_page(request, draft)


def _form_from(request: Request, draft: ContentDraft) -> authoring.ModuleForm:
    values = form_of(request)
    return authoring.ModuleForm(
        # The id and language are the draft's (progress and history hang on them): taken from
        # the draft's record, never from its text, which a broken field may have made unreadable.
        id=draft.item_id,
        title=values.get("title", ""),
        lang=draft.lang,
        summary=values.get("summary", ""),
        estimated_minutes=values.get("estimated_minutes", ""),
        objectives=values.get("objectives", ""),
        regulations=values.get("regulations", ""),
        tags=values.get("tags", ""),
        practice=values.get("practice", ""),
        sample=values.get("sample") == "on",
        body=values.get("body", ""),
    )


def _text_from(request: Request, draft: ContentDraft) -> str:
    """The YAML textarea's text. Browsers send a textarea's lines with CRLF: back to the line
    ends of the text the form showed, so an untouched file is byte for byte what it was."""
    text = form_of(request).get("text", "")
    if "\r\n" not in draft.text:
        text = text.replace("\r\n", "\n")
    return text


MAX_ROWS = 60  # blueprint rows a course form carries


def _course_form_from(request: Request) -> course_forms.CourseForm:
    values = form_of(request)
    count = values.get("bp_rows", "")
    rows = min(int(count), MAX_ROWS) if count.isdigit() else 0

    def choice(name: str, allowed: tuple[str, ...]) -> str:
        value = values.get(name, "")
        return value if value in allowed else ""

    return course_forms.CourseForm(
        title=values.get("title", ""),
        summary=values.get("summary", ""),
        modules=values.get("modules", ""),
        has_certification=True,
        requires=choice("requires", course_forms.REQUIRES),
        review=choice("review", course_forms.REVIEWS),
        mode=choice("mode", course_forms.MODES),
        fields={key: values.get(key, "") for key in (*course_forms.TOP_FIELDS, *course_forms.EXAM_FIELDS)},
        rows=[
            course_forms.BlueprintRow(
                values.get(f"bp_tags_{i}", ""),
                values.get(f"bp_low_{i}", ""),
                values.get(f"bp_high_{i}", ""),
                values.get(f"bp_count_{i}", ""),
            )
            for i in range(rows)
        ],
    )


def save_draft(request: Request) -> Response:
    """Save (and preview), submit or withdraw: one form, the button says which."""
    viewer = viewer_of(request)
    session = session_of(request)
    draft = publishing.draft_for(session, id_param(request, "draft_id"))
    action = form_of(request).get("action", "save")
    actor = _actor(request, viewer)
    if action == "withdraw":
        publishing.withdraw(session, actor, viewer, draft)
        return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}?done=withdrawn", status_code=303)
    if draft.kind == "module":
        text = authoring.compose(_form_from(request, draft), draft.text)
    elif draft.kind == "course" and form_of(request).get("editor") == "course":
        course_form = _course_form_from(request)
        try:
            text = course_forms.compose_course(course_form, draft.text)
        except question_forms.FormError as error:
            # Nothing saved: the form comes back as typed, with what to fix.
            publishing.check_editable(viewer, draft)
            return _draft_page(
                request, draft, course_form=course_form, form_errors=[(error.message, error.values)]
            )
        except LookupError:
            raise DomainError(
                409, "course_unreadable", "The course file cannot be read: fix it in the YAML first."
            ) from None
    else:
        text = _text_from(request, draft)
    publishing.save_draft(session, viewer, draft, text)
    if action != "submit":
        return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}?done=saved#preview", status_code=303)
    check = _check(request, draft, _companion(request, draft))
    if not check.ok:
        # Saved, not submitted: the page shows every problem with its line.
        return _draft_page(request, draft, errors=[SUBMIT_REFUSED])
    publishing.submit(session, actor, viewer, draft, check)
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}?done=submitted", status_code=303)


def upload_image(request: Request) -> Response:
    """An image for the draft's course (multipart form: the file and its alt text). A refusal
    shows the draft page again with the reason; nothing is stored."""
    viewer = viewer_of(request)
    session = session_of(request)
    draft = publishing.draft_for(session, id_param(request, "draft_id"))
    upload = request.state.form.get("image")
    data, filename = None, ""
    if isinstance(upload, UploadFile) and upload.filename:
        data, filename = upload.file.read(uploaded_assets.MAX_IMAGE_BYTES + 1), upload.filename
    try:
        publishing.upload_image(
            session, _actor(request, viewer), viewer, draft,
            courses_dir=content_of(request).courses_dir, filename=filename, data=data,
            alt_text=form_of(request).get("alt_text", ""),
        )  # fmt: skip
    except DomainError as error:
        if error.status in (403, 404, 409):
            raise
        response = _draft_page(request, draft, errors=[error.text(translations(request.state.lang).gettext)])
        response.status_code = error.status
        return response
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}?done=uploaded#images", status_code=303)


def review_draft(request: Request) -> Response:
    viewer = viewer_of(request)
    session = session_of(request)
    draft = publishing.draft_for(session, id_param(request, "draft_id"))
    values = form_of(request)
    action = values.get("action", "")
    check = (
        _check(request, draft, _companion(request, draft))
        if action == "approve" and draft.author_id != viewer.id
        else None
    )
    store = content_of(request)
    version = publishing.review(
        session,
        _actor(request, viewer),
        viewer,
        draft,
        action=action,
        comment=values.get("comment", ""),
        check=check,
        companion=new_courses.companion_now(session, draft, store.courses_dir, store.question_bank_dir)
        if action == "approve"
        else None,
    )
    if version is not None:
        # Once committed, this process starts its poll at once (every other one at its next).
        event.listen(session, "after_commit", lambda _session: store.poll_now(), once=True)
    done = "published" if version is not None else "reviewed"
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}?done={done}", status_code=303)


def module_history(request: Request) -> Response:
    module_id = request.path_params["module_id"]
    library = content_of(request).library
    module = library.modules.get(module_id)
    if module is None:
        raise DomainError(404, "no_such_module", "There is no such module.")
    return state.templates(request).render(
        request,
        "content/authoring/history.html",
        {
            "module": module,
            "course": library.courses[module.course_id],
            "versions": publishing.history(session_of(request), module_id),
            "lang_labels": LANGUAGES,
        },
    )


def show_version(request: Request) -> Response:
    session = session_of(request)
    store = content_of(request)
    version = publishing.version_for(session, id_param(request, "version_id"))
    before = publishing.previous_text(session, store.courses_dir, store.question_bank_dir, version)
    return state.templates(request).render(
        request,
        "content/authoring/version.html",
        {
            "version": version,
            "shown_path": publishing.shown_path(version.path),
            "by": publishing.author_name(session, version.published_by),
            "diff": authoring.line_diff(before, version.text),
            "lang_labels": LANGUAGES,
        },
    )


def restore_version(request: Request) -> Response:
    viewer = viewer_of(request)
    session = session_of(request)
    version = publishing.version_for(session, id_param(request, "version_id"))
    store = content_of(request)
    draft = publishing.restore(
        session,
        _actor(request, viewer),
        viewer,
        version,
        courses_dir=store.courses_dir,
        question_bank_dir=store.question_bank_dir,
    )
    return RedirectResponse(f"/trainer/authoring/drafts/{draft.id}", status_code=303)


def file_history(request: Request) -> Response:
    """Every published version of one course.yaml or question bank file (by `?path=`)."""
    path = request.query_params.get("path", "")
    if publishing.kind_of_path(path) is None:
        raise DomainError(404, "no_such_file", "There is no such course or question file.")
    return state.templates(request).render(
        request,
        "content/authoring/file_history.html",
        {
            "path": path,
            "shown_path": publishing.shown_path(path),
            "versions": publishing.file_history(session_of(request), path),
            "lang_labels": LANGUAGES,
        },
    )


# -- one language's translation of a course draft -------------------------------------------------

COURSE_UNREADABLE = N_(
    "The course's translations cannot be read, or cannot be written in place: edit them in the YAML."
)


@dataclass(frozen=True)
class _CourseTranslation:
    draft: ContentDraft
    lang: str  # the translation's
    source_lang: str  # the course's own
    source: dict[str, str]  # the course's own words, by the translation's field names
    current: dict[str, str]  # the translation's fields as written now


def _course_translation(request: Request) -> _CourseTranslation:
    """The viewer's own course draft while it can be changed, and the language asked for
    (`?lang=`: one the trainer serves other than the course's own)."""
    viewer = viewer_of(request)
    draft = publishing.draft_for(session_of(request), id_param(request, "draft_id"))
    if draft.kind != "course":
        raise DomainError(404, "not_a_course_file", "This draft is not a course file.")
    publishing.check_editable(viewer, draft)
    lang = request.query_params.get("lang", "")
    source = course_forms.source_words(draft.text)
    current = course_forms.translation_of(draft.text, lang)
    if source is None or current is None:
        raise DomainError(409, "course_unreadable", COURSE_UNREADABLE)
    if lang not in LANGUAGES or lang == source[0]:
        raise DomainError(404, "no_such_language", "The course is not translated into this language here.")
    return _CourseTranslation(draft, lang, source[0], source[1], current)


def _render_course_translation(
    request: Request,
    found: _CourseTranslation,
    fields: dict[str, str],
    errors: list[tuple[str, dict[str, str]]] | None = None,
) -> Response:
    context: dict[str, Any] = {
        "draft": found.draft,
        "lang": found.lang,
        "lang_labels": LANGUAGES,
        "source_lang": found.source_lang,
        "source": found.source,
        "fields": fields,
        "shown_path": publishing.shown_path(found.draft.path),
        "errors": errors or [],
    }
    return state.templates(request).render(
        request, "content/authoring/course_translation.html", context, status_code=422 if errors else 200
    )


def show_course_translation(request: Request) -> Response:
    found = _course_translation(request)
    return _render_course_translation(request, found, found.current)


def save_course_translation(request: Request) -> Response:
    found = _course_translation(request)
    values = form_of(request)
    fields = {key: values.get(key, "") for key in course_forms.TRANSLATION_FIELDS}
    try:
        text = course_forms.put_translation(found.draft.text, found.lang, fields)
    except question_forms.FormError as error:
        # Nothing saved: the form comes back as typed, with what to fix.
        return _render_course_translation(request, found, fields, [(error.message, error.values)])
    except LookupError:
        raise DomainError(409, "course_unreadable", COURSE_UNREADABLE) from None
    publishing.save_draft(session_of(request), viewer_of(request), found.draft, text)
    return RedirectResponse(f"/trainer/authoring/drafts/{found.draft.id}?done=saved#preview", status_code=303)


routes: list[BaseRoute] = [
    page("/trainer/authoring", index, access=Access.TRAINER),
    page("/trainer/authoring/drafts", start, access=Access.TRAINER, methods=("POST",)),
    page("/trainer/authoring/new-module", start_new_module, access=Access.TRAINER, methods=("POST",)),
    page("/trainer/authoring/new-course", start_new_course, access=Access.TRAINER, methods=("POST",)),
    page("/trainer/authoring/drafts/{draft_id}", show_draft, access=Access.TRAINER),
    page("/trainer/authoring/drafts/{draft_id}", save_draft, access=Access.TRAINER, methods=("POST",)),
    page(
        "/trainer/authoring/drafts/{draft_id}/review", review_draft, access=Access.TRAINER, methods=("POST",)
    ),
    page(
        "/trainer/authoring/drafts/{draft_id}/images",
        upload_image,
        access=Access.TRAINER,
        methods=("POST",),
        max_files=1,
        max_body_size=uploaded_assets.MAX_UPLOAD_BODY,
    ),
    page("/trainer/authoring/modules/{module_id}", module_history, access=Access.TRAINER),
    page("/trainer/authoring/files", file_history, access=Access.TRAINER),
    page("/trainer/authoring/versions/{version_id}", show_version, access=Access.TRAINER),
    page(
        "/trainer/authoring/versions/{version_id}/restore",
        restore_version,
        access=Access.TRAINER,
        methods=("POST",),
    ),
    page(
        "/trainer/authoring/drafts/{draft_id}/course-translation",
        show_course_translation,
        access=Access.TRAINER,
    ),
    page(
        "/trainer/authoring/drafts/{draft_id}/course-translation",
        save_course_translation,
        access=Access.TRAINER,
        methods=("POST",),
    ),
]
