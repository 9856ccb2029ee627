"""The application factory: settings in, a ready ASGI app out (each test builds its own)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from trainer import metrics, migrate
from trainer.access import Access
from trainer.assignments import api as assignments_api
from trainer.assignments import views as assignments_views
from trainer.certification import views as certification_views
from trainer.config import Settings
from trainer.content import authoring_views, question_views
from trainer.content import views as content_views
from trainer.content.publishing import PublishedContent
from trainer.content.service import record_course_versions
from trainer.content.store import ContentStore
from trainer.db import Database, utcnow
from trainer.notifications import due as notify
from trainer.notifications import views as notifications_views
from trainer.notifications.mail import SmtpSender
from trainer.people import admin_views, auth, housekeeping
from trainer.people import api as people_api
from trainer.people import views as people_views
from trainer.quizzes import api as quizzes_api
from trainer.quizzes import dashboard
from trainer.quizzes import service as quizzes_service
from trainer.quizzes import views as quizzes_views
from trainer.quizzes.answer_writer import AnswerWriter
from trainer.quizzes.paper_warmer import PaperWarmer
from trainer.reports import api as reports_api
from trainer.reports import trainer_views as reports_trainer_views
from trainer.reports import views as reports_views
from trainer.schemas import Message
from trainer.sittings import api as sittings_api
from trainer.sittings import papers
from trainer.sittings import views as sittings_views
from trainer.web import edge, errors, state
from trainer.web import views as web_views
from trainer.web.middleware import RequestContextMiddleware
from trainer.web.pages import NamedMount, PageRoutes, page
from trainer.web.templating import Templates

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000


class DatabaseNotReadyError(Exception):
    """The database schema is not at the version this code expects."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = (settings or Settings()).prepared()
    database = Database(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        audit_key=settings.audit_chain_key,
        time_zone=settings.zone,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
    )
    metrics.watch_pool(database.engine, settings.db_pool_size + settings.db_max_overflow)
    try:
        current, head = migrate.current_revision(database), migrate.head_revision()
        if current != head:
            raise DatabaseNotReadyError(
                f"the database is at revision {current or 'none'}, the code expects {head}: "
                "run `trainer db upgrade`"
            )
        content = ContentStore(
            settings.courses_dir,
            settings.question_bank_dir,
            reload=settings.content_reload,
            on_load=lambda library: record_course_versions(database, library),
            cache_dir=settings.data_dir / "cache" / "content",
            published=PublishedContent(database),
            poll_seconds=settings.content_poll_seconds,
        )
        record_course_versions(database, content.library)
    except BaseException:
        database.dispose()  # a refused start leaves no connections behind
        raise

    answers = AnswerWriter(database, quizzes_service.store_answer)
    warmer = PaperWarmer(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.purge_interval_seconds:
            tasks.append(asyncio.create_task(_purge_now_and_then(database, settings)))
        if settings.notify_interval_seconds:
            tasks.append(asyncio.create_task(_notify_now_and_then(database, settings, content)))
        if settings.prepare_interval_seconds:
            tasks.append(asyncio.create_task(_prepare_now_and_then(database, settings, content)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            warmer.close()
            content.close()
            answers.close()  # what is queued is stored before the process ends

    # Nothing a browser or API client sends legitimately comes near 1 MB; refuse more up front.
    app = FastAPI(
        title="trainer",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        max_body_size=MAX_BODY_BYTES,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.answer_writer = answers
    app.state.loop_saves = quizzes_api.LoopSaves()
    app.state.paper_warmer = warmer
    app.state.content = content
    app.state.templates = Templates(settings)
    app.state.sessions = state.Sessions(remembered=auth.remembered_session, load=auth.load_session)
    app.add_middleware(RequestContextMiddleware, settings=settings)
    app.router.routes.append(NamedMount("/static", StaticFiles(directory=settings.static_dir), name="static"))
    # Pages first, ahead of FastAPI's own routes, as one entry that an API request passes at the
    # cost of one prefix check (trainer.web.pages.PageRoutes).
    app.router.routes[0:0] = [
        PageRoutes(
            [
                *content_views.routes,
                *authoring_views.routes,
                *question_views.routes,
                *web_views.routes,
                *people_views.routes,
                *admin_views.routes,
                *quizzes_views.routes,
                *certification_views.routes,
                *dashboard.routes,
                *reports_views.routes,
                *assignments_views.routes,
                *reports_trainer_views.routes,
                *sittings_views.routes,
                *notifications_views.routes,
                page("/", dashboard.home, access=Access.PUBLIC),
            ]
        )
    ]
    # Every API route refuses control characters in its path, query and JSON body (400).
    edge_check: dict[str, Any] = {
        "dependencies": [Depends(edge.refuse_control_characters)],
        "responses": {400: {"model": Message, "description": edge.REFUSAL}},
    }
    # Exam day's starts, saves and submits are the API's busiest routes: their router is tried first.
    app.include_router(quizzes_api.router, **edge_check)
    app.include_router(people_api.router, **edge_check)
    app.include_router(certification_views.router, **edge_check)
    app.include_router(reports_api.router, **edge_check)
    app.include_router(sittings_api.router, **edge_check)
    app.include_router(assignments_api.router, **edge_check)
    errors.install(app)
    return app


async def _purge_now_and_then(database: Database, settings: Settings) -> None:
    """Housekeeping on a timer (each process; the deletes are idempotent), off the event loop."""
    idle = timedelta(minutes=settings.session_idle_minutes)
    while True:
        await asyncio.sleep(settings.purge_interval_seconds)
        try:
            done = await run_in_threadpool(housekeeping.purge, database, utcnow(), session_idle=idle)
            log.info("purged %s", done)
        except Exception:  # a database hiccup must not end the timer
            log.exception("purge failed; trying again next time")


async def _notify_now_and_then(database: Database, settings: Settings, content: ContentStore) -> None:
    """`trainer notify` on a timer (each process; the outbox's claims send each message once,
    whichever process's run gets there first), off the event loop."""
    sender = SmtpSender(settings) if settings.smtp_host else None
    host = notify.Context.host_of(settings.public_url)
    while True:
        await asyncio.sleep(settings.notify_interval_seconds)
        context = notify.Context(settings.zone, settings.default_language, content.library, host)
        try:
            done = await run_in_threadpool(notify.run, database, context, utcnow(), sender=sender)
            delivery = done.delivery
            if done.queued.total or (
                delivery and (delivery.sent.total or delivery.failed or delivery.given_up)
            ):
                log.info(
                    "notify: queued %s, emailed %s, failed %s, given up %s",
                    dict(done.queued),
                    dict(delivery.sent) if delivery else "none (no TRAINER_SMTP_HOST)",
                    len(delivery.failed) if delivery else 0,
                    len(delivery.given_up) if delivery else 0,
                )
        except Exception:  # a database or mail hiccup must not end the timer
            log.exception("notify failed; trying again next time")


async def _prepare_now_and_then(database: Database, settings: Settings, content: ContentStore) -> None:
    """`trainer sittings prepare` on a timer (each process; a run draws only the papers missing or
    no longer good, so a second process's run finds little to do), off the event loop."""
    while True:
        await asyncio.sleep(settings.prepare_interval_seconds)
        try:
            done = await run_in_threadpool(
                papers.prepare_upcoming,
                database,
                content.library,
                utcnow(),
                default_lang=settings.default_language,
            )
            if done.drawn:  # a paper that cannot be drawn is logged as a warning where it is found
                log.info("sittings: %s paper(s) drawn ahead", done.drawn)
        except Exception:  # a database hiccup must not end the timer
            log.exception("preparing papers failed; trying again next time")


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory` with several worker processes: settings from the environment."""
    app = create_app(Settings())
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """For a serving process, once the app is built: hide what start-up made (library, templates,
    SQLAlchemy's mappers) from the garbage collector. A full collection then walks only what
    requests create; before, each one walked the whole library too (60 ms on the sample content,
    a pause that lands on whichever requests are in flight). Not for tests, which build many apps:
    frozen objects are never freed."""
    gc.collect()
    gc.freeze()
