"""The `trainer` command."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter

from trainer import localtime, logs, migrate
from trainer.audit import service as audit
from trainer.config import Settings, SettingsError
from trainer.content.bank_schemas import BankFile
from trainer.content.library import Library
from trainer.content.loader import load_library
from trainer.content.parsecache import ParseCache
from trainer.content.schemas import CourseFile, ModuleFrontMatter, Regulation, TagNames
from trainer.content.translations import TranslationFile
from trainer.content.yamlio import YamlError
from trainer.db import Database, utcnow
from trainer.errors import DomainError
from trainer.people import demo
from trainer.people import service as people

app = typer.Typer(help="Training and certification for work-safety inspectors.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
attempts_app = typer.Typer(help="Quiz and exam attempts.", no_args_is_help=True)
sittings_app = typer.Typer(help="Exam sittings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
reports_app = typer.Typer(help="Compliance reports.", no_args_is_help=True)
app.add_typer(attempts_app, name="attempts")
app.add_typer(sittings_app, name="sittings")
app.add_typer(reports_app, name="reports")
content_app = typer.Typer(
    help="The library as files: export what is published, import files.", no_args_is_help=True
)
app.add_typer(content_app, name="content")


def _settings() -> Settings:
    try:
        return Settings().prepared()
    except SettingsError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _database(settings: Settings) -> Database:
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(
        settings.effective_database_url,
        audit_key=settings.audit_chain_key,
        time_zone=settings.zone,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
    )


def _load_library(settings: Settings, overlay: dict[str, str] | None = None) -> Library:
    """The content library (with `overlay`: published versions over the files, as `serve` has
    it), or exit 1 printing what is wrong with it."""
    library, problems = load_library(
        settings.courses_dir, settings.question_bank_dir, _parse_cache(settings), overlay
    )
    if library is None:
        for problem in problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1)
    return library


def _parse_cache(settings: Settings) -> ParseCache:
    """Parsed content files kept in the data folder: a restart parses only what changed."""
    return ParseCache(settings.data_dir / "cache" / "content")


@app.command()
def check() -> None:
    """Validate all course and question-bank files: one line per problem, non-zero exit on errors."""
    settings = Settings()
    library, problems = load_library(settings.courses_dir, settings.question_bank_dir, _parse_cache(settings))
    for problem in problems:
        typer.echo(str(problem))
    errors = sum(1 for p in problems if p.severity == "error")
    if library is None:
        typer.secho(
            f"{errors} error(s); the library cannot be served until they are fixed.", fg="red", err=True
        )
        raise typer.Exit(1)
    typer.secho(
        f"ok: {len(library.courses)} courses, {library.module_count} modules, "
        f"{library.word_count} words, {len(library.bank.questions)} questions, "
        f"{len(library.regulations)} regulations" + (f", {len(problems)} warning(s)" if problems else ""),
        fg="green",
        err=True,
    )


# How long an idle keep-alive connection stays open. uvicorn's default, 5 s, is shorter than an
# inspector's pause between answers (and than a proxy's idle time-out, 60 s on the common load
# balancers), so a save often went out on a connection the server was just closing: a failed
# request for the client to retry (seen as read errors in bench/exam_day.py). Longer than the
# proxy's, so the proxy is the one that closes.
KEEP_ALIVE_SECONDS = 75


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    reload: Annotated[
        bool, typer.Option("--reload", help="Show content edits on the next page load.")
    ] = False,
    workers: Annotated[int, typer.Option(help="App processes (PostgreSQL only).")] = 1,
) -> None:
    """Start the web server. On the embedded default this also migrates the database."""
    settings = _settings()
    log_config = logs.logging_config(settings.log_format)
    logging.config.dictConfig(log_config)
    if workers > 1:
        # Before anything imports prometheus_client (trainer.metrics): a fresh folder for this
        # start's worker processes to keep their metrics in, removed when the server stops.
        metrics_dir = tempfile.mkdtemp(prefix="trainer-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        try:
            _serve(settings, host, port, reload=reload, workers=workers, log_config=log_config)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    else:
        _serve(settings, host, port, reload=reload, workers=workers, log_config=log_config)


def _serve(
    settings: Settings, host: str, port: int, *, reload: bool, workers: int, log_config: dict[str, Any]
) -> None:
    import uvicorn

    # Here, not at the top: prometheus_client reads PROMETHEUS_MULTIPROC_DIR when first imported.
    from trainer import metrics
    from trainer.app import DatabaseNotReadyError, create_app, freeze_startup_heap
    from trainer.content.problems import LibraryError

    # JSON: the app writes each request's access line itself (route template, request id,
    # person); uvicorn's would repeat it with the raw path and query string. Text: uvicorn's.
    uvicorn_logging: dict[str, Any] = (
        {"log_config": log_config, "access_log": False} if settings.log_format == "json" else {}
    )
    if reload:
        settings = settings.model_copy(update={"content_reload": True})
    database = _database(settings)
    if database.is_sqlite and workers > 1:
        typer.secho(
            "error: several app processes need PostgreSQL (set TRAINER_DATABASE_URL)", fg="red", err=True
        )
        raise typer.Exit(2)
    shortfall = database.connection_shortfall(workers, settings.db_pool_size + settings.db_max_overflow)
    if shortfall:
        typer.secho(f"warning: {shortfall}", fg="yellow", err=True)
    if not settings.is_production:
        migrate.upgrade(database)
        demo.seed_if_empty(database, settings.secret_key)
        accounts = demo.existing_demo_accounts(database)
        if accounts:
            typer.secho("Demo accounts (development only; passwords unless changed):", bold=True)
            for account in accounts:
                password = demo.demo_password(settings.secret_key, account.username)
                typer.echo(
                    f"  {account.username:<16} {password:<20} {', '.join(account.roles):<10} {account.unit}"
                )
    database.dispose()
    try:
        application = create_app(settings)
    except LibraryError as exc:
        for problem in exc.problems:
            if problem.severity == "error":
                typer.echo(str(problem), err=True)
        typer.secho("error: the content has problems (above); nothing was served.", fg="red", err=True)
        raise typer.Exit(1) from None
    except DatabaseNotReadyError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    library = application.state.content.library
    typer.secho(
        f"trainer: {len(library.courses)} courses, {library.module_count} modules "
        f"({'PostgreSQL' if not database.is_sqlite else 'SQLite'}, {settings.env})",
        fg="green",
    )
    typer.secho(f"Open http://{host}:{port}/courses", fg="green", bold=True)
    if workers > 1:
        application.state.database.dispose()
        metrics.leave()  # the workers serve; this process only watches them
        uvicorn.run(
            "trainer.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,  # TRAINER_TRUSTED_PROXIES decides (trainer.web.middleware)
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            log_level="info",
            **uvicorn_logging,
        )
    else:
        freeze_startup_heap()
        uvicorn.run(
            application,
            host=host,
            port=port,
            proxy_headers=False,  # TRAINER_TRUSTED_PROXIES decides (trainer.web.middleware)
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            log_level="info",
            **uvicorn_logging,
        )


@app.command("doctor")
def doctor_command(
    workers: Annotated[
        int, typer.Option(min=1, help="App processes the server will run (for the connection check).")
    ] = 1,
) -> None:
    """Check this deployment's settings and surroundings: one line per check (ok, warning,
    problem) with what to do; exit 1 on any problem. Changes nothing."""
    from pydantic import ValidationError

    from trainer.cli import doctor as checks

    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"])
            typer.echo(f"problem  settings: TRAINER_{where.upper()}: {problem['msg']}")
        raise typer.Exit(1) from None
    found = checks.run(settings, workers=workers)
    for check in found:
        typer.echo(check.line())
    problems = sum(1 for check in found if check.status == "problem")
    warnings = sum(1 for check in found if check.status == "warning")
    typer.echo(f"{problems} problem(s), {warnings} warning(s)")
    if problems:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    settings = _settings()
    database = _database(settings)
    migrate.upgrade(database, revision)
    typer.echo(f"database at revision {migrate.current_revision(database)}")


@db_app.command("check")
def db_check() -> None:
    """Fail if the database is not at the latest revision or differs from the models."""
    settings = _settings()
    database = _database(settings)
    current, head = migrate.current_revision(database), migrate.head_revision()
    if current != head:
        typer.secho(f"database at {current}, latest is {head}: run `trainer db upgrade`", fg="red", err=True)
        raise typer.Exit(1)
    differences = migrate.schema_differences(database)
    for difference in differences:
        typer.echo(str(difference))
    if differences:
        typer.secho("the models and the migrations disagree: write a migration", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: database at {current}, models and migrations agree")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument()],
    full_name: Annotated[str, typer.Option("--name", help="Full name.")],
    roles: Annotated[str, typer.Option(help="Roles separated by ';': inspector, trainer, manager, admin.")],
    unit: Annotated[
        str, typer.Option(help="Unit path, e.g. 'Heilongjiang/Harbin/Daoli District/Bureau'.")
    ] = "",
    email: Annotated[str, typer.Option()] = "",
) -> None:
    """Create one account and print its initial password (to be changed at first sign-in)."""
    settings = _settings()
    database = _database(settings)
    now = utcnow()
    try:
        with database.write() as db:
            unit_row = people.ensure_unit_path(db, audit.SYSTEM, unit, now) if unit.strip() else None
            user, password = people.create_user(
                db,
                audit.SYSTEM,
                username=username,
                full_name=full_name,
                unit=unit_row,
                roles=[r.strip() for r in roles.split(";") if r.strip()],
                email=email or None,
                now=now,
            )
    except DomainError as error:
        for message in error.problems:
            typer.secho(f"error: {message}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{user.username},{password}")


@users_app.command("import")
def users_import(
    file: Annotated[Path, typer.Argument(help="CSV: username,full_name,unit,roles,email")],
    passwords_out: Annotated[
        Path | None,
        typer.Option("--passwords-out", help="Write new accounts' passwords here, not to the screen."),
    ] = None,
) -> None:
    """Create or update accounts from a CSV file (UTF-8 with or without BOM, or GB18030/GBK as
    Excel saves it in a Chinese locale): all rows or none."""
    from trainer.people import importing

    settings = _settings()
    try:
        reading = importing.read(file.read_bytes())
    except OSError as exc:
        typer.secho(f"error: cannot read {file}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    except DomainError as exc:
        typer.secho(f"error: {file}: {exc.text()}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{file}: read as {reading.encoding}", err=True)
    if reading.problems:
        for problem in reading.problems:
            typer.echo(f"{file}: {problem}", err=True)
        typer.secho(f"{len(reading.problems)} problem(s); nothing was imported.", fg="red", err=True)
        raise typer.Exit(1)
    database = _database(settings)
    with database.write() as db:
        result = importing.apply(db, audit.SYSTEM, reading.rows, utcnow(), encoding=reading.encoding)
    typer.echo(
        f"created {len(result.created)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}"
    )
    if result.passwords:
        lines = ["username,password", *(f"{name},{password}" for name, password in result.passwords.items())]
        if passwords_out is not None:
            passwords_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
            passwords_out.chmod(0o600)
            typer.echo(f"initial passwords written to {passwords_out}")
        else:
            typer.echo("\n".join(lines))


@app.command()
def regrade(
    attempt: Annotated[int | None, typer.Argument(help="One attempt's id.")] = None,
    course: Annotated[str | None, typer.Option("--course", help="Every graded attempt of a course.")] = None,
    question: Annotated[
        str | None,
        typer.Option("--question", help="Every graded response to one question (with --current-key)."),
    ] = None,
    current_key: Annotated[
        bool, typer.Option("--current-key", help="Score that question against the bank's key as it is now.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
) -> None:
    """Re-score stored responses against each attempt's stored questions; log every change.

    With --question ID --current-key: a review found that question's key wrong and the bank is
    fixed; every graded response to it is scored against the current key (everything else as
    served), each change audited, certificates issued where an exam now passes, and exams that
    no longer pass listed for a manager (nothing is revoked)."""
    from trainer.db import utcnow
    from trainer.quizzes import service as quizzes

    if question is not None or current_key:
        if question is None or not current_key or attempt is not None or course is not None:
            typer.secho(
                "error: use --question ID together with --current-key (and nothing else)", fg="red", err=True
            )
            raise typer.Exit(2)
        settings = _settings()
        library = _load_library(settings)
        try:
            corrections = quizzes.correct_key(
                _database(settings), library, question, dry_run=dry_run, now=utcnow(),
                prefix=settings.certificate_prefix,
            )  # fmt: skip
        except DomainError as error:
            typer.secho(f"error: {error.text()}", fg="red", err=True)
            raise typer.Exit(1) from None
        for fix in corrections:
            passed = (
                "" if fix.old_passed == fix.new_passed else f" (passed: {fix.old_passed} -> {fix.new_passed})"
            )
            note = f"; {fix.note} ({fix.certificate})" if fix.note else ""
            typer.echo(
                f"attempt {fix.attempt_id} ({fix.username}), question {question} in slot {fix.slot}: "
                f"{fix.old_score} -> {fix.new_score}; total {fix.old_total} -> {fix.new_total}{passed}{note}"
            )
        verb = "would change" if dry_run else "changed"
        typer.echo(f"{len({fix.attempt_id for fix in corrections})} attempt(s) {verb}")
        return
    if (attempt is None) == (course is None):
        typer.secho("error: name one attempt, or --course COURSE", fg="red", err=True)
        raise typer.Exit(2)
    changes = quizzes.regrade(_database(_settings()), attempt_id=attempt, course_id=course, dry_run=dry_run)
    changed = [c for c in changes if c.changed]
    for c in changed:
        typer.echo(
            f"attempt {c.attempt_id}: {c.old_score} -> {c.new_score}"
            f"{'' if c.old_passed == c.new_passed else f' (passed: {c.old_passed} -> {c.new_passed})'}"
        )
    verb = "would change" if dry_run else "changed"
    typer.echo(f"{len(changes)} attempt(s) checked, {len(changed)} {verb}")


@app.command("import-gift")
def import_gift(
    file: Annotated[Path, typer.Argument(help="A Moodle GIFT file.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The bank file to write, e.g. question_bank/coal/imported.yaml (with --translation-of: "
            "the translation file, by default NAME.LANG.yaml beside the bank file)",
        ),
    ] = None,
    domain: Annotated[str | None, typer.Option(help="Domain for every question (coal, gas, …).")] = None,
    translation_of: Annotated[
        Path | None,
        typer.Option(
            "--translation-of",
            help="Write a translation of this bank file instead: the GIFT questions are named ::ID:: "
            "after the questions they translate.",
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="With --translation-of: the translation's language.")] = "zh-CN",
) -> None:
    """Convert a GIFT file into a draft bank file (or translation file); report every question it
    could not convert."""
    from trainer.quizzes import gift

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        typer.secho(f"error: cannot read {file}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    if translation_of is not None:
        _import_gift_translation(file, text, translation_of, lang, out)
        return
    if out is None:
        typer.secho("error: give --out (the bank file to write) or --translation-of", fg="red", err=True)
        raise typer.Exit(2)
    result = gift.convert(text, domain=domain)
    for skipped in result.skipped:
        name = f" ({skipped.name})" if skipped.name else ""
        typer.echo(f"{file}:{skipped.line}: skipped{name}: {skipped.reason}", err=True)
    if not result.questions:
        typer.secho("nothing to write: no question could be converted", fg="red", err=True)
        raise typer.Exit(1)
    if out.exists():
        typer.secho(
            f"error: {out} exists; choose a new file (imports are drafts to review)", fg="red", err=True
        )
        raise typer.Exit(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(gift.to_yaml(result, domain=domain), encoding="utf-8")
    typer.echo(f"wrote {len(result.questions)} question(s) to {out}; {len(result.skipped)} skipped")


def _import_gift_translation(file: Path, text: str, bank_file: Path, lang: str, out: Path | None) -> None:
    from trainer.content import translations
    from trainer.quizzes import gift

    if lang not in translations.LANGUAGES:
        typer.secho(f"error: --lang must be one of: {', '.join(translations.LANGUAGES)}", fg="red", err=True)
        raise typer.Exit(2)
    if translations.translation_name(bank_file.name) is not None or bank_file.suffix != ".yaml":
        typer.secho(f"error: {bank_file} is not a bank file (NAME.yaml)", fg="red", err=True)
        raise typer.Exit(2)
    try:
        source = bank_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.secho(f"error: cannot read {bank_file}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    display = str(bank_file)
    bank, problems = translations.read_source(source, display)
    if problems:
        for problem in problems:
            typer.echo(str(problem), err=True)
        typer.secho(f"error: {bank_file} has errors; fix them first (`trainer check`)", fg="red", err=True)
        raise typer.Exit(1)
    target = out or bank_file.with_name(f"{bank_file.stem}.{lang}.yaml")
    if target.exists():
        typer.secho(
            f"error: {target} exists; choose a new file (imports are drafts to review)", fg="red", err=True
        )
        raise typer.Exit(1)
    result = gift.convert(text)
    for skipped in result.skipped:
        name = f" ({skipped.name})" if skipped.name else ""
        typer.echo(f"{file}:{skipped.line}: skipped{name}: {skipped.reason}", err=True)
    entries, left_out = translations.from_gift(result.questions, result.lines, bank, display)
    for skip in left_out:
        typer.echo(f"{file}:{skip.line}: skipped ({skip.question_id}): {skip.reason}", err=True)
    if not entries:
        typer.secho("nothing to write: no question could be converted", fg="red", err=True)
        raise typer.Exit(1)
    order = {qid: index for index, qid in enumerate(bank.files.get(display, []))}
    ordered = dict(sorted(entries.items(), key=lambda item: order.get(item[0], len(order))))
    target.write_text(translations.to_yaml(lang, ordered), encoding="utf-8")
    missing = [qid for qid in bank.files.get(display, []) if qid not in entries]
    typer.echo(
        f"wrote {len(entries)} {lang} translation(s) to {target}; "
        f"{len(result.skipped) + len(left_out)} skipped, {len(missing)} question(s) of {bank_file} "
        f"not in the GIFT file. Review it, then `trainer translations --stamp {target}`"
    )


@app.command()
def translations(
    path: Annotated[
        Path | None,
        typer.Argument(help="With --stamp: only this translation file (NAME.LANG.yaml)."),
    ] = None,
    stamp: Annotated[
        bool,
        typer.Option(
            "--stamp",
            help="Write the source's current hash as `source:` into every translation entry that has "
            "none (after a translator checked them), keeping the file's comments and layout.",
        ),
    ] = False,
) -> None:
    """How far the question bank is translated: per file and language, the questions translated,
    stale (the source changed since), unstamped and missing. With --stamp, stamp translations."""
    from trainer.content import translations as tr

    settings = Settings()
    if stamp:
        _stamp(settings.question_bank_dir, path)
        return
    if path is not None:
        typer.secho("error: a PATH is only taken with --stamp", fg="red", err=True)
        raise typer.Exit(2)
    library = _load_library(settings)
    bank = library.bank
    rows = []
    for bank_file, ids in sorted(bank.files.items()):
        domain = next((bank.questions[q].domain for q in ids if q in bank.questions), "")
        for lang in tr.LANGUAGES:
            counts = tr.coverage_of(bank, ids, lang)
            if counts.total:
                rows.append((domain, bank_file, lang, counts))
    header = ("domain", "file", "lang", "translated", "stale", "unstamped", "missing")
    width = max([len(header[1]), *(len(r[1]) for r in rows)])
    line = "{:<12} {:<%d} {:<6} {:>10} {:>6} {:>9} {:>8}" % width  # noqa: UP031 (a width in a format)
    typer.echo(line.format(*header))
    totals: dict[tuple[str, str], tr.Coverage] = {}
    for domain, bank_file, lang, counts in rows:
        typer.echo(
            line.format(
                domain, bank_file, lang, counts.translated, counts.stale, counts.unstamped, counts.missing
            )
        )
        for key in ((domain, lang), ("all", lang)):
            total = totals.setdefault(key, tr.Coverage())
            for name in ("translated", "stale", "unstamped", "missing"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
    for (domain, lang), total in sorted(totals.items(), key=lambda item: (item[0][0] == "all", item[0])):
        label = "(all files)" if domain == "all" else "(domain total)"
        typer.echo(
            line.format(domain, label, lang, total.translated, total.stale, total.unstamped, total.missing)
        )


def _stamp(bank_dir: Path, only: Path | None) -> None:
    from trainer.content import translations as tr

    if only is not None:
        if tr.translation_name(only.name) is None or not only.is_file():
            typer.secho(
                f"error: {only} is not a translation file (NAME.LANG.yaml beside NAME.yaml)",
                fg="red",
                err=True,
            )
            raise typer.Exit(2)
        files = [only]
    else:
        files = sorted(p for p in bank_dir.rglob("*.yaml") if tr.translation_name(p.name) is not None)
        if not files:
            typer.echo(f"no translation files (NAME.LANG.yaml) under {bank_dir}")
    failed = 0
    for path in files:
        name = tr.translation_name(path.name)
        assert name is not None
        source_path = path.with_name(f"{name[0]}.yaml")
        try:
            text = path.read_text(encoding="utf-8")
            source = source_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            typer.secho(f"{path}: cannot read it or {source_path.name}: {exc}", fg="red", err=True)
            failed += 1
            continue
        bank, problems = tr.read_source(source, str(source_path))
        if problems:
            typer.secho(
                f"{path}: not stamped: {source_path} has errors (`trainer check`)", fg="red", err=True
            )
            failed += 1
            continue
        try:
            stamped_text, stamped = tr.stamp_text(text, tr.hashes_of(bank))
        except (tr.StampError, YamlError) as exc:
            typer.secho(f"{path}: not stamped: {getattr(exc, 'message', exc)}", fg="red", err=True)
            failed += 1
            continue
        if stamped:
            temporary = path.with_name(f".{path.name}.stamping")
            temporary.write_text(stamped_text, encoding="utf-8")
            temporary.replace(path)  # whole or not at all
            typer.echo(f"{path}: stamped {len(stamped)} ({', '.join(stamped)})")
        else:
            typer.echo(f"{path}: nothing to stamp")
    if failed:
        raise typer.Exit(1)


@app.command()
def reminders(
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the list as CSV (UTF-8 with BOM).")
    ] = None,
    send: Annotated[
        bool,
        typer.Option("--send", help="Run `trainer notify`: queue what is due and email it, each once."),
    ] = False,
) -> None:
    """List holders whose certificates are in the renewal window or grace, per manager (the list
    managers' weekly digests are made from; `trainer notify` sends them)."""
    from trainer.reports import reminders as due_reminders

    settings = _settings()
    if send:
        if not settings.smtp_host:
            typer.secho("error: set TRAINER_SMTP_HOST to send email", fg="red", err=True)
            raise typer.Exit(2)
        notify(dry_run=False)
        return
    found = due_reminders.due(_database(settings), utcnow())
    if csv_out is not None:
        csv_out.write_text(due_reminders.to_csv(found), encoding="utf-8")
        typer.echo(f"{len(found)} reminder(s) written to {csv_out}")
        return
    for r in found:
        typer.echo(
            f"{r.manager}: {r.holder_name} ({r.holder}) {r.course_id} {r.number} {r.state}, "
            f"{r.days_left} day(s) left"
        )
    typer.echo(f"{len(found)} reminder(s)")


def _counts(counter: dict[str, int]) -> str:
    total = sum(counter.values())
    parts = ", ".join(f"{kind} {count}" for kind, count in sorted(counter.items()) if count)
    return f"{total}" + (f" ({parts})" if parts else "")


@app.command()
def notify(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be queued and emailed; change nothing.")
    ] = False,
) -> None:
    """Queue the notifications that are due (sitting invitations and changes, renewal reminders,
    due-date reminders of required certificates, managers' weekly digests), each exactly once,
    and email every one not yet sent; a failed send is reported and tried again next run (`serve`
    runs this every TRAINER_NOTIFY_INTERVAL_SECONDS)."""
    from trainer.notifications import due
    from trainer.notifications.mail import SmtpSender

    settings = _settings()
    sender = SmtpSender(settings) if settings.smtp_host else None
    library, _problems = load_library(settings.courses_dir, settings.question_bank_dir)
    context = due.Context(
        settings.zone, settings.default_language, library, due.Context.host_of(settings.public_url)
    )
    done = due.run(_database(settings), context, utcnow(), sender=sender, dry_run=dry_run)
    if dry_run:
        typer.echo(f"would queue {_counts(done.queued)}; would email {_counts(done.would_send)}")
        return
    if done.delivery is None:
        typer.echo(f"queued {_counts(done.queued)}; emailed 0 (TRAINER_SMTP_HOST is not set)")
        return
    delivery = done.delivery
    typer.echo(
        f"queued {_counts(done.queued)}; emailed {_counts(delivery.sent)}; "
        f"failed {len(delivery.failed)} (tried again next run); given up {len(delivery.given_up)}"
    )
    for notification_id, address, error in delivery.failed:
        typer.secho(f"failed: notification {notification_id} to {address}: {error}", fg="yellow", err=True)
    for notification_id, address, error in delivery.given_up:
        typer.secho(
            f"given up after repeated failures: notification {notification_id} to {address}: {error}",
            fg="red",
            err=True,
        )
    if delivery.failed or delivery.given_up:
        raise typer.Exit(1)


@attempts_app.command("close-overdue")
def attempts_close_overdue() -> None:
    """Grade every exam left open past its deadline, from its saved answers (run from cron)."""
    from trainer.quizzes import service as quizzes

    settings = _settings()
    certify = quizzes.Certifying(_load_library(settings), settings.certificate_prefix)
    closed = quizzes.close_overdue(_database(settings), utcnow(), certify=certify)
    typer.echo(f"{closed} overdue attempt(s) graded")


@sittings_app.command("prepare")
def sittings_prepare(
    sitting: Annotated[
        int | None, typer.Option(help="Only this sitting (also while it is open); else those ahead.")
    ] = None,
    hours: Annotated[int, typer.Option(min=1, help="Without --sitting: sittings opening within this.")] = 24,
) -> None:
    """Draw exam papers ahead of sittings, one per person on the roster, so that starting in the
    sitting only stores the paper (`serve` does it on a timer for the sittings of the next day).
    Only papers missing or no longer good are drawn; run it again after editing a roster."""
    from datetime import timedelta

    from trainer.content.publishing import PublishedContent
    from trainer.sittings import papers

    settings = _settings()
    database = _database(settings)
    # The library as `serve` serves it (published versions over the files): a paper is taken
    # only if it was drawn from the library the app serves.
    library = _load_library(settings, PublishedContent(database).load()[1])
    now = utcnow()
    if sitting is not None:
        done = papers.prepare(database, library, sitting, now, default_lang=settings.default_language)
        if done.refused:
            typer.secho(f"error: {done.refused}; nothing was drawn", fg="red", err=True)
            raise typer.Exit(2)
    else:
        done = papers.prepare_upcoming(
            database, library, now, default_lang=settings.default_language, horizon=timedelta(hours=hours)
        )
    typer.echo(
        f"{done.drawn} paper(s) drawn, {done.kept} already prepared, "
        f"{done.skipped} skipped (started in the sitting already)"
    )
    for refusal in done.cannot_draw:
        typer.secho(f"error: {refusal}", fg="red", err=True)
    if done.cannot_draw:
        raise typer.Exit(1)


@content_app.command("export")
def content_export(out: Annotated[Path, typer.Argument(help="An empty or new folder.")]) -> None:
    """Write the published library as files (courses/ and question_bank/ in their documented
    formats), each module, course and question file in its latest published version, byte for
    byte: commit it to git or import it elsewhere."""
    from trainer.content import publishing

    settings = _settings()
    if out.exists() and any(out.iterdir()):
        typer.secho(f"error: {out} is not empty; export into a new or empty folder", fg="red", err=True)
        raise typer.Exit(2)
    with _database(settings).session() as session:
        written = publishing.export_tree(session, settings.courses_dir, settings.question_bank_dir, out)
    typer.echo(f"wrote {written} file(s) to {out}")


@content_app.command("import")
def content_import(
    source: Annotated[Path, typer.Argument(help="A folder holding courses/ (and question_bank/).")],
    review: Annotated[
        bool,
        typer.Option("--review", help="Open a submitted draft per changed file instead of publishing."),
    ] = False,
    author: Annotated[
        str | None, typer.Option("--author", help="With --review: the trainer account the drafts are by.")
    ] = None,
) -> None:
    """Publish every module, course.yaml and question bank file of SOURCE that differs from what
    is served, and every new image under a course's assets/ (checked as an upload is), all or
    nothing: if the library would not load with them, print every problem and publish none.
    (regulations.yaml, tags.yaml and other files are not imported: they are listed, and stay as on
    disk.) With --review --author USERNAME, publish nothing: open one draft per changed file by
    that trainer, submitted for other trainers to review as in the browser; a new image goes with
    the draft that links it."""
    from trainer.content import publishing

    settings = _settings()
    if not (source / "courses").is_dir():
        typer.secho(f"error: {source} has no courses/ folder", fg="red", err=True)
        raise typer.Exit(2)
    if review != (author is not None):
        typer.secho("error: --review and --author USERNAME go together", fg="red", err=True)
        raise typer.Exit(2)
    if author is not None:
        _import_for_review(settings, source, author)
        return
    with _database(settings).write() as session:
        result = publishing.import_tree(
            session, audit.SYSTEM, settings.courses_dir, settings.question_bank_dir, source
        )
    _refuse_on_problems(result.skipped, result.problems)
    for name in result.published:
        typer.echo(f"published {name}")
    typer.echo(f"{len(result.published)} file(s) published")


def _refuse_on_problems(skipped: Sequence[str], problems: Sequence[object]) -> None:
    """An import's files left as on disk, and its problems: any problem, and nothing was imported."""
    for name in skipped:
        typer.echo(f"not imported (regulations, tags and other files stay as on disk): {name}", err=True)
    if problems:
        for problem in problems:
            typer.echo(str(problem), err=True)
        typer.secho("nothing imported", fg="red", err=True)
        raise typer.Exit(1)


def _import_for_review(settings: Settings, source: Path, author: str) -> None:
    """`content import --review`: drafts instead of versions, with the direct import's output."""
    from trainer.content import publishing

    try:
        with _database(settings).write() as session:
            result = publishing.import_for_review(
                session, settings.courses_dir, settings.question_bank_dir, source, author=author
            )
    except publishing.ImportRefusedError as refused:
        typer.secho(f"error: {refused}; nothing imported", fg="red", err=True)
        raise typer.Exit(1) from None
    _refuse_on_problems(result.skipped, result.problems)
    for name, draft_id in result.opened:
        typer.echo(f"opened {name} for review: /trainer/authoring/drafts/{draft_id}")
    for name, draft_id in result.images:
        typer.echo(f"image {name} goes with /trainer/authoring/drafts/{draft_id}")
    typer.echo(f"{len(result.opened)} draft(s) submitted for review by {author}")


@reports_app.command("snapshot")
def reports_snapshot() -> None:
    """Keep this month's compliance roll-up for auditors, if not kept yet (run monthly from cron;
    the first roll-up page view of a month also keeps it)."""
    from trainer.reports import compliance

    settings = _settings()
    now = utcnow()
    taken = compliance.take_snapshot(_database(settings), now)
    month = f"{localtime.month_of(now, settings.zone)} ({settings.time_zone})"
    typer.echo(f"kept the snapshot of {month}" if taken else f"the snapshot of {month} was already kept")


@reports_app.command("recount")
def reports_recount() -> None:
    """Recount every unit's compliance tallies from people and certificates, and the monthly exam
    tallies from graded exams in TRAINER_TIME_ZONE's months (after a bulk load, a restore or a
    change of time zone; pages and grading keep them exact on their own otherwise)."""
    from trainer.reports import compliance
    from trainer.tallies import results

    database = _database(_settings())
    units = compliance.rebuild(database, utcnow())
    with database.write() as db:
        tallies = results.recount_exam_tallies(db)
    typer.echo(f"recounted {units} unit(s) and {tallies} monthly exam tally row(s)")


@app.command()
def purge() -> None:
    """Delete expired sessions and API tokens, sign-in attempts older than 30 days, closed
    rate-limit windows and the papers drawn ahead of sittings now over (run nightly from cron;
    `serve` also does it hourly)."""
    from datetime import timedelta

    from trainer.people.housekeeping import purge as purge_rows

    settings = _settings()
    done = purge_rows(
        _database(settings), utcnow(), session_idle=timedelta(minutes=settings.session_idle_minutes)
    )
    typer.echo(
        f"purged {done.sessions} session(s), {done.api_tokens} API token(s), "
        f"{done.login_attempts} sign-in attempt(s), {done.rate_counters} rate counter(s), "
        f"{done.prepared_papers} prepared paper(s)"
    )


@app.command("backup")
def backup_command(
    folder: Annotated[Path, typer.Argument(help="A new or empty folder to write the backup into.")],
) -> None:
    """Back up the database while the app serves (SQLite: online backup API; PostgreSQL:
    pg_dump custom format), with a manifest noting the content library and secret-key location."""
    from trainer.cli import backup as backups

    settings = _settings()
    try:
        done = backups.backup(settings, _database(settings), folder)
    except backups.BackupError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"backed up {done.rows} rows of {done.tables} tables into {done.file} ({done.size} bytes)")


@app.command("restore")
def restore_command(
    folder: Annotated[Path, typer.Argument(help="A folder written by `trainer backup`.")],
) -> None:
    """Restore a backup into the configured database, which must be empty; checks the file's hash
    before and every table's row count after."""
    from trainer.cli import backup as backups

    settings = _settings()
    try:
        done = backups.restore(_database(settings), folder)
    except backups.BackupError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"restored {done.rows} rows of {done.tables} tables from {done.file}; row counts match the manifest"
    )


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Print the log's head (entries, last id and hash, time) as one line: keep it outside the
    database (print it, mail it, file it) to check later with `audit verify --anchor`."""
    typer.echo(audit.anchor(_database(_settings()), utcnow()).line())


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str,
        typer.Option(
            help="A line printed by `trainer audit anchor`, or a file holding it: the log "
            "must still reach that entry (reveals a cut tail with the head row rewritten)."
        ),
    ] = "",
) -> None:
    """Recompute the audit log's hash chain; exit 1 at the first entry that does not fit."""
    settings = _settings()
    kept: audit.Anchor | None = None
    if anchor:
        text = anchor
        if not anchor.lstrip().startswith("{"):
            try:
                text = Path(anchor).read_text(encoding="utf-8")
            except OSError as exc:
                typer.secho(f"error: cannot read the anchor {anchor}: {exc}", fg="red", err=True)
                raise typer.Exit(2) from None
        try:
            kept = audit.Anchor.parse(text.strip())
        except ValueError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
    result = audit.verify(_database(settings), anchor=kept)
    if result.ok:
        typer.echo(f"ok: {result.checked} entries, chain intact")
        return
    where = f"entry #{result.broken_id}" if result.broken_id is not None else "the end of the log"
    typer.secho(
        f"BROKEN at {where}: {result.reason} ({result.checked} entries before it are intact)",
        fg="red",
        err=True,
    )
    raise typer.Exit(1)


@app.command()
def schemas(
    out: Annotated[Path, typer.Option(help="Folder to write the JSON Schemas to.")] = Path("docs/schemas"),
) -> None:
    """Write JSON Schemas for course.yaml, module front matter, regulations.yaml, tags.yaml, bank files and
    question translation files."""
    out.mkdir(parents=True, exist_ok=True)
    regulations = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "regulations.yaml",
        "type": "object",
        "propertyNames": {"pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$"},
        "additionalProperties": Regulation.model_json_schema(ref_template="#/$defs/{model}"),
    }
    tags = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tags.yaml",
        "description": "Each tag's name per language, like `methane: {en: Methane, zh-CN: 瓦斯}`.",
        "type": "object",
        "propertyNames": {"pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$"},
        "additionalProperties": TypeAdapter(TagNames).json_schema(),
    }
    documents = {
        "course.schema.json": CourseFile.model_json_schema(),
        "module-front-matter.schema.json": ModuleFrontMatter.model_json_schema(),
        "regulations.schema.json": regulations,
        "tags.schema.json": tags,
        "question-bank.schema.json": BankFile.model_json_schema(),
        "question-translation.schema.json": TranslationFile.model_json_schema(),
    }
    for name, schema in documents.items():
        schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
        (out / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"wrote {out / name}")


@app.command()
def stats(
    marks: Annotated[
        Path,
        typer.Option(
            "--marks",
            help="CSV: a header row of question ids, then one row per attempt of marks as fractions "
            "(0..1) of each question's maximum; an empty cell for a question not in that attempt.",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
    # The defaults are Thresholds()'s (a test keeps them equal); written out so that --help shows them.
    facility_low: Annotated[float, typer.Option(help="Flag too_hard below this facility (0..1).")] = 0.2,
    facility_high: Annotated[float, typer.Option(help="Flag too_easy above this facility (0..1).")] = 0.95,
    discrimination_low: Annotated[
        float, typer.Option(help="Flag low_discrimination below this discrimination index (%).")
    ] = 20.0,
) -> None:
    """Item statistics per question (Moodle's definitions): facility, SD, discrimination, efficiency."""
    from trainer.reports import itemstats

    try:
        text = marks.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        typer.secho(f"error: {marks}: no such file", fg="red", err=True)
        raise typer.Exit(2) from None
    except (OSError, UnicodeDecodeError) as exc:
        typer.secho(f"error: cannot read {marks}: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    try:
        header, rows = itemstats.read_marks_csv(text)
    except itemstats.MarksError as exc:
        typer.secho(f"error: {marks}: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    results = itemstats.from_marks_matrix(header, rows)
    if as_json:
        document = [
            {
                "question": s.question,
                "facility": s.facility,
                "sd": s.sd,
                "discrimination_index": s.discrimination_index,
                "discriminative_efficiency": s.discriminative_efficiency,
            }
            for s in results
        ]
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    thresholds = itemstats.Thresholds(facility_low, facility_high, discrimination_low)
    typer.echo(itemstats.format_table(results, thresholds))


@app.command("seed-synthetic")
def seed_synthetic(
    inspectors: Annotated[int, typer.Option(min=1, help="Inspector accounts to create.")] = 100_000,
    attempts: Annotated[
        int, typer.Option(min=0, help="Attempts (practice and exams) to create.")
    ] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 1,
    manager_password: Annotated[
        str | None,
        typer.Option(help="Password of every synthetic account (default: generated and printed)."),
    ] = None,
) -> None:
    """Fill an EMPTY database with a synthetic province for load tests (never in production)."""
    from trainer.cli import synthetic
    from trainer.people.passwords import generate_password

    settings = _settings()
    if settings.is_production:
        typer.secho("error: synthetic data is for test installations, not production", fg="red", err=True)
        raise typer.Exit(2)
    database = _database(settings)
    migrate.upgrade(database)
    library, problems = load_library(settings.courses_dir, settings.question_bank_dir, _parse_cache(settings))
    if library is None:
        for problem in problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1)
    password = manager_password or generate_password()
    try:
        report = synthetic.generate(
            database,
            library,
            inspectors=inspectors,
            attempts=attempts,
            password=password,
            seed=seed,
            prefix=settings.certificate_prefix,
            progress=typer.echo,
        )
    except synthetic.AlreadySeededError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    except synthetic.CannotSeedError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    for table, rows in report.rows.items():
        typer.echo(f"  {table:<14} {rows:>12,}")
    states = ", ".join(f"{state} {n:,}" for state, n in report.certificate_states.items())
    typer.echo(f"  certificates by state: {states}")
    typer.echo(f"seeded in {report.seconds:.1f}s")
    typer.echo(f"accounts: {', '.join(report.managers)} and the inspectors share one password")
    if manager_password is None:
        typer.secho(f"password: {password}", bold=True)
