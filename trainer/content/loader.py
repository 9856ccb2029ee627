"""Reads `courses/` and `question_bank/regulations.yaml` into a `Library`, or lists every problem.

Loading is all or nothing: `load_library` returns the problems it found, and a library only when
there is no error among them, so a server can never serve a half-loaded library.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, TypeAdapter, ValidationError

from trainer.config import SUPPORTED_LANGUAGES
from trainer.content.bank import (
    Bank,
    BankQuestion,
    CheckedFile,
    assemble_bank,
    check_bank_file,
    fill_exactly,
    rows_of_questions,
    units_for,
)
from trainer.content.library import Course, CourseText, Library, Module, ModuleVersion
from trainer.content.parsecache import ParseCache
from trainer.content.pools import pool_problems
from trainer.content.problems import LibraryError, Problem, validation_problems
from trainer.content.render import CALLOUT_KINDS, MarkdownRenderer, count_words
from trainer.content.schemas import (
    DOMAINS,
    REGULATION_CODE,
    CourseFile,
    DrawRow,
    ModuleFrontMatter,
    Regulation,
    TagNames,
)
from trainer.content.search import SearchDocument, SearchIndex
from trainer.content.translations import (
    TranslationSource,
    load_translations,
    paper_languages,
    translation_name,
)
from trainer.content.yamlio import YamlDocument, YamlError, load_yaml

# Overlay paths starting with this are files under the question bank's folder; the rest are
# under the courses folder (which has no folder of that name: a course id has no underscore).
BANK_PREFIX = "question_bank/"
ASSET_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".pdf"}
# Files at the top of question_bank/ that are lists of codes, not bank files.
REGULATIONS_FILE = "regulations.yaml"
TAGS_FILE = "tags.yaml"
_TAG_NAMES: TypeAdapter[TagNames] = TypeAdapter(TagNames)
# 01-name.md or 01-name.zh-CN.md
M = TypeVar("M", bound=BaseModel)

_MODULE_FILE = re.compile(r"^(?P<stem>[^.]+)(?:\.(?P<lang>[a-z]{2}(?:-[A-Z]{2})?))?\.md$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_LINK = re.compile(
    r"(?P<image>!?)\[(?P<text>[^\]]*)\]\(\s*<?(?P<url>[^)\s>]*)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)"
)
_REFERENCE = re.compile(r"^\s{0,3}\[(?P<label>[^\]^][^\]]*)\]:\s*<?(?P<url>\S+?)>?(?:\s|$)")
_RAW_HTML = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^>]*)?>")
_CALLOUT = re.compile(r"^!!!\s*(?P<kind>[^\s\"]*)")


@dataclass
class _ModuleFile:
    path: Path
    display: str
    front: ModuleFrontMatter
    doc: YamlDocument
    body: str
    body_first_line: int
    sha256: str  # of the whole file's text, as a published version (content_versions) records it


@dataclass
class _CourseFolder:
    path: Path
    display: str
    course: CourseFile | None  # None: course.yaml is invalid (reported); modules still checked
    doc: YamlDocument | None
    files: list[_ModuleFile]
    unreadable: int  # module files that failed to parse (already reported)


def load_library(
    courses_dir: Path,
    question_bank_dir: Path,
    cache: ParseCache | None = None,
    overlay: Mapping[str, str] | None = None,
) -> tuple[Library | None, list[Problem]]:
    """The library, or None and the problems. With `cache`, YAML files whose text it has seen
    (in memory or on disk) are not parsed again (trainer.content.parsecache).

    `overlay` maps a file's path to the text that replaces it, or that adds it when no such file
    exists: published versions from the database (trainer.content.publishing) and a draft being
    checked. A path is under `courses_dir` ("course-id/01-topic.md", "course-id/course.yaml"),
    or under `question_bank_dir` with the `BANK_PREFIX` ("question_bank/coal/methane.yaml").
    Everything else is read from disk, so a library built with an overlay is checked exactly as
    `trainer check` checks files."""
    found = inspect_library(courses_dir, question_bank_dir, cache, overlay)
    return found.library, found.problems


@dataclass(frozen=True)
class Inspection:
    """A library load: the library (None when there is an error), every problem, and the bank as
    built even when something else failed (an authoring page counts a blueprint's questions from
    it while the draft still has errors)."""

    library: Library | None
    problems: list[Problem]
    bank: Bank


def inspect_library(
    courses_dir: Path,
    question_bank_dir: Path,
    cache: ParseCache | None = None,
    overlay: Mapping[str, str] | None = None,
) -> Inspection:
    """`load_library`, keeping the bank (same arguments)."""
    loader = _Loader(courses_dir, question_bank_dir, cache, overlay)
    with _collector_paused():
        library = loader.load()
    if cache is not None:
        cache.prune()
    problems = sorted(loader.problems, key=lambda p: (p.file, p.line or 0, p.message))
    if any(p.severity == "error" for p in problems):
        return Inspection(None, problems, loader.bank)
    return Inspection(library, problems, loader.bank)


@dataclass(frozen=True)
class RowCount:
    """One draw row as the draw check sees it: questions matching it (`available`), how many it
    asks for (`needed`), and how many it gets when all the rows are filled together (`filled`:
    rows share questions, a scenario counts whole, enemies stay apart)."""

    available: int
    needed: int
    filled: int

    @property
    def short(self) -> bool:
        return self.filled < self.needed


def draw_counts(bank: Bank, domain: str, rows: list[DrawRow], purpose: str) -> list[RowCount]:
    """What `trainer check` works out for a blueprint (purpose "exam") or a practice draw."""
    candidates = [[q.id for q in bank.candidates(domain, row, purpose)] for row in rows]
    counts = [row.count for row in rows]
    if any(len(found) < count for found, count in zip(candidates, counts, strict=True)):
        # Some row cannot be filled even alone: the others are not tried together.
        return [
            RowCount(len(found), count, min(len(found), count))
            for found, count in zip(candidates, counts, strict=True)
        ]
    rows_of = rows_of_questions(candidates)
    filling = fill_exactly(counts, rows_of, units_for(bank, rows_of))
    return [
        RowCount(len(found), count, len(members))
        for found, count, members in zip(candidates, counts, filling.members, strict=True)
    ]


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a library is built. A load makes millions of
    objects that all live on (YAML nodes, values, line marks, validated questions) and no cycles
    worth collecting, and each automatic collection walks everything made so far: at 50,000
    questions collections were two thirds of a cold load and a third of a warm one. Switched back
    on only by the load that switched it off: a load in another thread that started meanwhile
    may then finish with it on, as every load ran before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                # What the load made goes straight to the oldest generation: freezing and thawing
                # move whole lists, where the first young collection would walk every object the
                # load made (0.6 to 2 s at 50,000 questions). Not where a serving process has
                # frozen its start-up heap (trainer.app): thawing would undo that.
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def load_library_or_raise(courses_dir: Path, question_bank_dir: Path) -> Library:
    library, problems = load_library(courses_dir, question_bank_dir)
    if library is None:
        raise LibraryError(problems)
    return library


def content_signature(courses_dir: Path, question_bank_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Cheap fingerprint (names, sizes, mtimes) to notice an edit without reading every file."""
    entries = []
    for root in (courses_dir, question_bank_dir):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                # os.walk/os.stat rather than pathlib: this runs on every request in reload mode.
                path = os.path.join(dirpath, name)  # noqa: PTH118
                try:
                    stat = os.stat(path)  # noqa: PTH116
                except OSError:
                    continue
                entries.append((path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


class _Loader:
    def __init__(
        self,
        courses_dir: Path,
        question_bank_dir: Path,
        cache: ParseCache | None = None,
        overlay: Mapping[str, str] | None = None,
    ) -> None:
        self.cache = cache
        self.courses_dir = courses_dir.resolve()
        self.bank_dir = question_bank_dir.resolve()
        self.root = Path(os.path.commonpath([self.courses_dir, self.bank_dir]))
        self.problems: list[Problem] = []
        self.bank = Bank()
        # Texts replacing (or added beside) the files, by absolute path.
        self.overlay = {
            (
                self.bank_dir / name.removeprefix(BANK_PREFIX)
                if name.startswith(BANK_PREFIX)
                else self.courses_dir / name
            ): text
            for name, text in (overlay or {}).items()
        }
        # The bank folder as served (Library.bank_hash), fed file by file as each is read.
        self.bank_digest = hashlib.sha256()

    def error(self, file: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(file, line, message))

    def warn(self, file: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(file, line, message, "warning"))

    def show(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def read_text(self, path: Path) -> str | None:
        text = self._read_text(path)
        if text is not None and path.is_relative_to(self.bank_dir):
            self.bank_digest.update(path.relative_to(self.bank_dir).as_posix().encode() + b"\0")
            self.bank_digest.update(text.encode() + b"\0")
        return text

    def _read_text(self, path: Path) -> str | None:
        if path in self.overlay:
            return self.overlay[path]
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.error(self.show(path), None, "not UTF-8 text; save the file as UTF-8")
        except OSError as exc:
            self.error(self.show(path), None, f"cannot be read: {exc.strerror}")
        return None

    # -- the whole library -------------------------------------------------------------------

    def load(self) -> Library | None:
        regulations = self.load_regulations()
        bank = self.bank = self.load_bank(set(regulations))
        self.check_bank_citations(bank, regulations)
        tags = self.load_tags()
        folders = self.load_course_folders()
        by_path = self.check_ids(folders)
        renderer = MarkdownRenderer()
        courses = []
        for folder in folders:
            course = self.build_course(folder, regulations, by_path, renderer)
            if course is not None:
                courses.append(course)
        courses.sort(key=lambda c: (DOMAINS.index(c.domain), c.text_for(c.lang).title))
        for folder in folders:
            self.check_draws(folder, bank)
        if tags is not None:
            self.check_tag_names(tags, folders, bank)
        # Across bank and courses: exam and practice pools kept apart, give-aways, excludes.
        self.problems.extend(pool_problems(bank, courses))
        warnings = tuple(p for p in self.problems if p.severity == "warning")
        return Library(
            courses={c.id: c for c in courses},
            regulations=regulations,
            search=SearchIndex(search_documents(courses)),
            bank=bank,
            warnings=warnings,
            tags=tags or {},
            paper_languages=paper_languages(bank, courses),
            bank_hash=self.bank_digest.hexdigest(),
        )

    def load_regulations(self) -> dict[str, Regulation]:
        path = self.bank_dir / "regulations.yaml"
        display = self.show(path)
        if not path.is_file():
            self.error(display, None, "missing: the list of regulation codes that content cites")
            return {}
        doc = self.parse_yaml(path, display)
        if doc is None:
            return {}
        if not isinstance(doc.data, dict):
            self.error(display, 1, "must be a mapping of regulation code to its details")
            return {}
        regulations = {}
        for code, data in doc.data.items():
            if not isinstance(code, str) or not REGULATION_CODE.match(code):
                self.error(
                    display,
                    doc.line_of((code,)),
                    f"'{code}' is not a valid code (lowercase letters, digits and hyphens)",
                )
                continue
            regulation = self.validate(Regulation, data, doc, display, (code,))
            if regulation is not None:
                regulations[code] = regulation
        self.check_regulation_statuses(regulations, doc, display)
        return regulations

    def check_regulation_statuses(
        self, regulations: dict[str, Regulation], doc: YamlDocument, display: str
    ) -> None:
        """A successor is a known code, agrees with the status, and leads nowhere circular; a
        regulation says whether it is in force and has a title in every language."""
        for code, regulation in regulations.items():
            successor = regulation.superseded_by
            line = doc.line_of((code, "superseded_by")) or doc.line_of((code,))
            if successor is not None:
                if successor == code:
                    self.error(display, line, f"superseded_by: '{code}' cannot supersede itself")
                elif successor not in regulations:
                    self.error(
                        display,
                        line,
                        f"superseded_by: unknown regulation '{successor}': add it to this file "
                        "or fix the code",
                    )
                if regulation.in_force:
                    self.error(
                        display,
                        line,
                        "superseded_by: a text in force is not superseded; set status: amended or "
                        "repealed, or remove superseded_by",
                    )
            if regulation.status == "repealed" and successor is None and regulation.note is None:
                self.error(
                    display,
                    doc.line_of((code, "status")),
                    "status: repealed needs superseded_by (the code of what replaced it) or a note "
                    "(why nothing did)",
                )
            if regulation.status is None:
                self.warn(
                    display,
                    doc.line_of((code,)),
                    f"'{code}' has no status: say whether this edition is in force "
                    "(status: in-force, amended or repealed)",
                )
            missing = [
                lang
                for lang in SUPPORTED_LANGUAGES
                if lang != "en" and lang not in regulation.translations  # the title itself is English
            ]
            if missing:
                self.warn(
                    display,
                    doc.line_of((code,)),
                    f"'{code}' has no title in {', '.join(missing)}: add translations: "
                    f"{{{missing[0]}: {{title: …}}}}; readers of that language see the English title",
                )
        # A chain of successors that comes back to where it started is a typo somewhere.
        for code, regulation in regulations.items():
            seen = [code]
            successor = regulation.superseded_by
            while successor in regulations and successor not in seen:
                seen.append(successor)
                successor = regulations[successor].superseded_by
            if successor == code and len(seen) > 1:
                self.error(
                    display,
                    doc.line_of((code, "superseded_by")),
                    f"superseded_by goes round in a circle: {' -> '.join([*seen, code])}",
                )

    def load_tags(self) -> dict[str, dict[str, str]] | None:
        """tags.yaml: each tag's name per language. None when the file is missing (reported once,
        as a warning: pages then show the tags' codes)."""
        path = self.bank_dir / TAGS_FILE
        display = self.show(path)
        if not path.is_file():
            self.warn(
                display,
                None,
                "missing: tags are shown by their codes; add the file with a name per language "
                "for every tag (like `methane: {en: Methane, zh-CN: 瓦斯}`)",
            )
            return None
        doc = self.parse_yaml(path, display)
        if doc is None:
            return {}
        if doc.data is None:
            return {}
        if not isinstance(doc.data, dict):
            self.error(display, 1, "must be a mapping of tag to its names, like `methane: {en: Methane}`")
            return {}
        tags: dict[str, dict[str, str]] = {}
        for tag, data in doc.data.items():
            if not isinstance(tag, str) or not REGULATION_CODE.match(tag):
                self.error(
                    display,
                    doc.line_of((tag,)),
                    f"'{tag}' is not a tag (lowercase letters, digits and hyphens, like 'gas-alarms')",
                )
                continue
            if not isinstance(data, dict):
                self.error(
                    display, doc.line_of((tag,)), "must be a mapping of language to name, like {en: Methane}"
                )
                continue
            try:
                names = _TAG_NAMES.validate_python(data, strict=True)
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    key = error["loc"][0] if error["loc"] else ""
                    if error["loc"][-1:] == ("[key]",):
                        message = f"'{key}' is not a language: use {' or '.join(SUPPORTED_LANGUAGES)}"
                    elif error["type"] == "string_type":
                        message = f"{key}: must be text (put the name in quotes)"
                    else:
                        message = f"{key}: {error['msg'].replace('Input should', 'must')}"
                    self.error(display, doc.line_of((tag, key)) or doc.line_of((tag,)), message)
                continue
            missing = [lang for lang in SUPPORTED_LANGUAGES if lang not in names]
            if missing:
                self.warn(
                    display,
                    doc.line_of((tag,)),
                    f"tag '{tag}' has no name in {', '.join(missing)}; those readers see "
                    + ("its name in another language" if names else "its code"),
                )
            tags[tag] = {str(lang): name for lang, name in names.items()}
        return tags

    def check_tag_names(
        self, tags: dict[str, dict[str, str]], folders: list[_CourseFolder], bank: Bank
    ) -> None:
        """Every tag in use has a name, and every name belongs to a tag in use."""
        used: dict[str, list[tuple[str, int | None]]] = {}

        def use(tag: str, file: str, line: int | None) -> None:
            used.setdefault(tag, []).append((file, line))

        for folder in folders:
            for module_file in folder.files:
                front, doc = module_file.front, module_file.doc
                for index, tag in enumerate(front.tags):
                    use(tag, module_file.display, doc.line_of(("tags", index)))
                if front.practice is not None:
                    for row_index, row in enumerate(front.practice.draw):
                        for tag in row.tags:
                            use(tag, module_file.display, doc.line_of(("practice", "draw", row_index)))
            course = folder.course
            if course is not None and course.certification is not None and folder.doc is not None:
                for row_index, row in enumerate(course.certification.exam.blueprint):
                    for tag in row.tags:
                        path = ("certification", "exam", "blueprint", row_index)
                        use(tag, folder.display, folder.doc.line_of(path))
        for question in bank.questions.values():
            for tag in sorted(question.tags):
                use(tag, question.source, question.line)
        display = self.show(self.bank_dir / TAGS_FILE)
        for tag, places in sorted(used.items()):
            if tag not in tags:
                file, line = places[0]
                others = f" and {len(places) - 1} more place(s)" if len(places) > 1 else ""
                self.warn(
                    file,
                    line,
                    f"tag '{tag}' (used here{others}) has no name in {display}: readers see its code",
                )
        doc_lines = self._tag_lines(display)
        for tag in tags:
            if tag not in used:
                self.warn(
                    display,
                    doc_lines.get(tag),
                    f"'{tag}' names no tag in use (no module, question, blueprint or practice "
                    "draw has it): a typo, or left over",
                )

    def _tag_lines(self, display: str) -> dict[str, int | None]:
        path = self.bank_dir / TAGS_FILE
        text = self.read_text(path)
        if text is None:
            return {}
        try:
            doc = load_yaml(text)
        except YamlError:
            return {}
        if not isinstance(doc.data, dict):
            return {}
        return {str(tag): doc.line_of((tag,)) for tag in doc.data}

    def check_bank_citations(self, bank: Bank, regulations: dict[str, Regulation]) -> None:
        """Warn at every question that cites a regulation no longer in force, naming it."""
        for question in sorted(bank.questions.values(), key=lambda q: (q.source, q.line or 0)):
            for code in dict.fromkeys(ref.reg for ref in question.model.refs):
                regulation = regulations.get(code)
                if regulation is not None and not regulation.in_force:
                    self.warn(
                        question.source,
                        question.line,
                        f"question {question.id} cites {_not_in_force(code, regulation, regulations)}; "
                        "check it against the text in force",
                    )
        first_member: dict[str, BankQuestion] = {}
        for question in bank.questions.values():
            if question.group is not None:
                first_member.setdefault(question.group, question)
        for scenario_id, scenario in bank.scenarios.items():
            member = first_member.get(scenario_id)
            for code in dict.fromkeys(ref.reg for ref in scenario.refs):
                regulation = regulations.get(code)
                if member is not None and regulation is not None and not regulation.in_force:
                    self.warn(
                        member.source,
                        None,
                        f"scenario {scenario_id} cites {_not_in_force(code, regulation, regulations)}; "
                        "check it against the text in force",
                    )

    def load_bank(self, regulation_codes: set[str]) -> Bank:
        files: list[CheckedFile] = []
        translated: list[TranslationSource] = []
        if self.bank_dir.is_dir():
            added = {p for p in self.overlay if p.suffix == ".yaml" and p.is_relative_to(self.bank_dir)}
            for path in sorted(set(self.bank_dir.rglob("*.yaml")) | added):
                if path.name in (REGULATIONS_FILE, TAGS_FILE) and path.parent == self.bank_dir:
                    continue
                if any(part.startswith(".") for part in path.relative_to(self.bank_dir).parts):
                    continue
                display = self.show(path)
                name = translation_name(path.name)
                if name is not None:  # `storage.zh-CN.yaml` translates `storage.yaml`: never a bank file
                    doc = self.parse_yaml(path, display)
                    bank_path = path.with_name(f"{name[0]}.yaml")
                    if doc is not None:
                        translated.append(
                            TranslationSource(
                                display,
                                self.show(bank_path),
                                bank_path.is_file() or bank_path in self.overlay,
                                name[1],
                                doc,
                            )
                        )
                else:
                    checked = self.check_bank_file(path, display)
                    if checked is not None:
                        files.append(checked)
        bank = assemble_bank(files, regulation_codes, self.problems.append)
        load_translations(bank, translated, self.problems.append)
        return bank

    def check_draws(self, folder: _CourseFolder, bank: Bank) -> None:
        """Every exam blueprint and practice draw can be filled from the course's domain."""
        course = folder.course
        if course is None or folder.doc is None:
            return
        if course.certification is not None:
            rows = course.certification.exam.blueprint
            path = ("certification", "exam", "blueprint")
            self._check_rows(
                folder.display, folder.doc, path, rows, domain=course.domain, bank=bank, exam=True
            )
        for file in folder.files:
            if file.front.practice is not None and file.front.lang == course.lang:
                self._check_rows(
                    file.display,
                    file.doc,
                    ("practice", "draw"),
                    file.front.practice.draw,
                    domain=course.domain,
                    bank=bank,
                    exam=False,
                )

    def _check_rows(
        self,
        display: str,
        doc: YamlDocument,
        path: tuple[str, ...],
        rows: list[DrawRow],
        *,
        domain: str,
        bank: Bank,
        exam: bool,
    ) -> None:
        purpose = "exam" if exam else "practice"
        counted = draw_counts(bank, domain, rows, purpose)
        short = False
        for index, (row, count) in enumerate(zip(rows, counted, strict=True)):
            if count.available < row.count:
                short = True
                self.error(
                    display,
                    doc.line_of((*path, index)),
                    f"{'blueprint' if exam else 'practice'} row "
                    f"{index + 1} ({_describe(row)}) needs {row.count} {domain} questions; the bank has "
                    f"{count.available} for {'exams' if exam else 'practice'} (`use:`)",
                )
        if short:
            return
        counts = [row.count for row in rows]
        short_rows = [i for i, count in enumerate(counted) if count.short]
        if short_rows:
            index = short_rows[0]
            self.error(
                display,
                doc.line_of((*path, index)),
                f"the rows cannot be filled with exactly {sum(counts)} questions: row {index + 1} "
                f"({_describe(rows[index])}) gets {counted[index].filled} of {counts[index]} "
                "(rows share questions, a scenario counts as all its questions, enemies stay apart)",
            )
        elif exam and not _fills_twice(bank, domain, rows):
            self.warn(
                display,
                doc.line_of(path),
                "the bank cannot fill two exam papers without repeating "
                "questions: a retake would see some again",
            )

    def load_course_folders(self) -> list[_CourseFolder]:
        if not self.courses_dir.is_dir():
            self.error(self.show(self.courses_dir), None, "the courses folder does not exist")
            return []
        folders = []
        on_disk = {p for p in self.courses_dir.iterdir() if not p.name.startswith(".") and p.is_dir()}
        # A course published in the browser (trainer.content.new_courses) has no folder on disk.
        published = {
            p.parent for p in self.overlay if p.name == "course.yaml" and p.parent.parent == self.courses_dir
        }
        for path in sorted(on_disk | published):
            folder = self.load_course_folder(path)
            if folder is not None:
                folders.append(folder)
        return folders

    def load_course_folder(self, path: Path) -> _CourseFolder | None:
        course_file = path / "course.yaml"
        display = self.show(course_file)
        if not course_file.is_file() and course_file not in self.overlay:
            self.error(self.show(path), None, "a course folder needs a course.yaml")
            return None
        doc = self.parse_yaml(course_file, display)
        course = self.validate(CourseFile, doc.data, doc, display) if doc is not None else None
        if doc is not None and course is not None and course.id != path.name:
            self.error(
                display, doc.line_of(("id",)), f"id '{course.id}' must equal the folder name '{path.name}'"
            )
            course = None
        files = []
        unreadable = 0
        added = {p for p in self.overlay if p.parent == path and p.suffix == ".md"}
        for file in sorted(set(path.glob("*.md")) | added):
            module_file = self.load_module_file(file, course)
            if module_file is None:
                unreadable += 1
            else:
                files.append(module_file)
        return _CourseFolder(path, display, course, doc, files, unreadable)

    def load_module_file(self, path: Path, course: CourseFile | None) -> _ModuleFile | None:
        display = self.show(path)
        name = _MODULE_FILE.match(path.name)
        if name is None:
            self.error(display, None, "module files are named like '01-topic.md' or '01-topic.zh-CN.md'")
            return None
        text = self.read_text(path)
        if text is None:
            return None
        lines = text.splitlines()
        if not lines or lines[0].strip() != "---":
            self.error(display, 1, "a module starts with front matter between two '---' lines")
            return None
        try:
            end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        except StopIteration:
            self.error(display, 1, "the front matter has no closing '---' line")
            return None
        try:
            doc = load_yaml("\n".join(lines[1:end]), first_line=2)
        except YamlError as exc:
            self.error(display, exc.line, exc.message)
            return None
        front = self.validate(ModuleFrontMatter, doc.data, doc, display)
        if front is None:
            return None
        file_lang = name.group("lang") or (course.lang if course else front.lang)
        if front.lang != file_lang:
            self.error(
                display,
                doc.line_of(("lang",)),
                f"lang '{front.lang}' does not match the "
                f"file name (a '{file_lang}' file); name translations like '01-topic.zh-CN.md'",
            )
            return None
        body = "\n".join(lines[end + 1 :])
        sha256 = hashlib.sha256(text.encode()).hexdigest()
        return _ModuleFile(path, display, front, doc, body, end + 2, sha256)

    def check_ids(self, folders: list[_CourseFolder]) -> dict[Path, tuple[str, str]]:
        """Ids are unique per language across the library. Returns file -> (course, module)."""
        owners: dict[tuple[str, str], _ModuleFile] = {}
        by_path: dict[Path, tuple[str, str]] = {}
        for folder in folders:
            for file in folder.files:
                key = (file.front.id, file.front.lang)
                if key in owners:
                    self.error(
                        file.display,
                        file.doc.line_of(("id",)),
                        f"id '{file.front.id}' ({file.front.lang}) is already used by {owners[key].display}",
                    )
                    continue
                owners[key] = file
                by_path[file.path.resolve()] = (folder.path.name, file.front.id)
        return by_path

    # -- one course --------------------------------------------------------------------------

    def build_course(
        self,
        folder: _CourseFolder,
        regulations: dict[str, Regulation],
        by_path: dict[Path, tuple[str, str]],
        renderer: MarkdownRenderer,
    ) -> Course | None:
        course = folder.course
        if course is None or folder.doc is None:
            for file in folder.files:  # report what is wrong in the modules too
                self.check_regulations(file, regulations)
                self.check_body(file, folder.path, by_path)
            return None
        grouped: dict[str, dict[str, _ModuleFile]] = {}
        for file in folder.files:
            grouped.setdefault(file.front.id, {})[file.front.lang] = file
        modules = []
        ok = True
        for index, module_id in enumerate(course.modules):
            versions = grouped.get(module_id)
            line = folder.doc.line_of(("modules", index))
            if folder.unreadable and (not versions or course.lang not in versions):
                ok = False  # probably in a file that failed to parse; that error says what to fix
                continue
            if not versions:
                self.error(
                    folder.display,
                    line,
                    f"module '{module_id}' is listed but no file in this folder has that id",
                )
                ok = False
                continue
            if course.lang not in versions:
                self.error(
                    folder.display,
                    line,
                    f"module '{module_id}' has no version in the course language '{course.lang}'",
                )
                ok = False
                continue
            module = self.build_module(
                folder, index + 1, files=versions, regulations=regulations, by_path=by_path, renderer=renderer
            )
            if module is None:
                ok = False
            else:
                modules.append(module)
        for module_id, versions in grouped.items():
            if module_id not in course.modules:
                for file in versions.values():
                    self.warn(
                        file.display,
                        file.doc.line_of(("id",)),
                        f"module '{module_id}' is not listed in course.yaml, so it is not shown",
                    )
        if not ok:
            return None
        texts: dict[str, CourseText] = {
            course.lang: CourseText(
                course.title, course.summary, course.certification.title if course.certification else None
            )
        }
        for lang, t in course.translations.items():
            texts[lang] = CourseText(
                t.title,
                t.summary or course.summary,
                t.certification_title or (course.certification.title if course.certification else None),
            )
        return Course(
            id=course.id,
            domain=course.domain,
            lang=course.lang,
            sample=course.sample,
            texts=texts,
            modules=tuple(modules),
            certification=course.certification,
            content_hash=_hash_folder(folder.path, self.overlay),
        )

    def build_module(
        self,
        folder: _CourseFolder,
        position: int,
        *,
        files: dict[str, _ModuleFile],
        regulations: dict[str, Regulation],
        by_path: dict[Path, tuple[str, str]],
        renderer: MarkdownRenderer,
    ) -> Module | None:
        assert folder.course is not None
        original = files[folder.course.lang]
        front = original.front
        count_before = self._error_count()
        self.check_regulations(original, regulations)
        versions = {}
        for lang, file in files.items():
            if file is not original:
                self.compare_translation(original, file)
            self.check_body(file, folder.path, by_path)
            rewrite = _Rewriter(file.path.parent, folder.path, folder.course.id, by_path)
            rendered = renderer.render(file.body, lang=lang, rewrite=rewrite)
            versions[lang] = ModuleVersion(
                lang=lang,
                title=file.front.title,
                summary=file.front.summary,
                objectives=tuple(file.front.objectives),
                html=rendered.html,
                toc=rendered.toc,
                text=rendered.text,
                words=count_words(rendered.text),
                source=file.display,
                sha256=file.sha256,
            )
        if self._error_count() > count_before:
            return None
        return Module(
            id=front.id,
            course_id=folder.course.id,
            position=position,
            estimated_minutes=front.estimated_minutes,
            regulations=tuple(front.regulations),
            tags=tuple(front.tags),
            practice=front.practice,
            sample=front.sample,
            lang=front.lang,
            versions=versions,
        )

    def check_regulations(self, file: _ModuleFile, regulations: dict[str, Regulation]) -> None:
        for index, code in enumerate(file.front.regulations):
            regulation = regulations.get(code)
            if regulation is None:
                self.error(
                    file.display,
                    file.doc.line_of(("regulations", index)),
                    f"unknown regulation '{code}': add it to question_bank/regulations.yaml or fix the code",
                )
            elif not regulation.in_force:
                self.warn(
                    file.display,
                    file.doc.line_of(("regulations", index)),
                    f"module {file.front.id} cites {_not_in_force(code, regulation, regulations)}; "
                    "check what it teaches against the text in force",
                )

    def compare_translation(self, original: _ModuleFile, translation: _ModuleFile) -> None:
        for key in ("estimated_minutes", "regulations", "tags", "practice", "sample"):
            if getattr(original.front, key) != getattr(translation.front, key):
                self.warn(
                    translation.display,
                    translation.doc.line_of((key,)),
                    f"'{key}' differs from {original.display}; the original's value is used",
                )

    def check_body(self, file: _ModuleFile, course_dir: Path, by_path: dict[Path, tuple[str, str]]) -> None:
        in_fence = False
        previous = ""
        for offset, line in enumerate(file.body.splitlines()):
            number = file.body_first_line + offset
            if _FENCE.match(line):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            if re.match(r"^\s{0,3}#(?!#)\s", line) or (
                previous.strip() and re.match(r"^\s{0,3}=+\s*$", line)
            ):
                self.error(
                    file.display,
                    number,
                    "no level-1 heading in a module: the title comes "
                    "from the front matter; start sections with '##'",
                )
            callout = _CALLOUT.match(line)
            if callout and callout.group("kind") not in CALLOUT_KINDS:
                self.error(
                    file.display,
                    number,
                    f"unknown call-out '{callout.group('kind')}'; use one of: {', '.join(CALLOUT_KINDS)}",
                )
            code_free = re.sub(r"`[^`]*`", "", line)
            if _RAW_HTML.search(code_free):
                self.warn(file.display, number, "raw HTML is not rendered: it is shown as text")
            targets = [
                (m.group("url"), m.group("image") == "!", m.group("text")) for m in _LINK.finditer(code_free)
            ]
            reference = _REFERENCE.match(code_free)
            if reference:
                targets.append((reference.group("url"), False, "reference"))
            for url, is_image, text in targets:
                self.check_target(
                    file, number, url, is_image=is_image, text=text, course_dir=course_dir, by_path=by_path
                )
            previous = line

    def check_target(
        self,
        file: _ModuleFile,
        line: int,
        url: str,
        *,
        is_image: bool,
        text: str,
        course_dir: Path,
        by_path: dict[Path, tuple[str, str]],
    ) -> None:
        if is_image and not text.strip():
            self.error(file.display, line, "an image needs alt text: ![what the picture shows](assets/…)")
        parts = urlsplit(url)
        if parts.scheme.lower() in ("javascript", "data", "vbscript", "file"):
            self.warn(file.display, line, f"'{parts.scheme}:' links are removed from the page")
            return
        if parts.scheme or parts.netloc or url.startswith(("/", "#")) or not parts.path:
            return
        target = (file.path.parent / parts.path).resolve()
        if target.suffix == ".md":
            if target not in by_path:
                self.error(file.display, line, f"link to '{parts.path}': no module file there")
            return
        assets = (course_dir / "assets").resolve()
        if not target.is_relative_to(assets):
            self.error(
                file.display,
                line,
                f"'{parts.path}' is outside this course's assets/ folder; keep images and files in assets/",
            )
        # An image uploaded in the browser (trainer.content.assets) is in the overlay by its path
        # ("course-id/assets/name.png"), with a stand-in text naming its SHA-256: it exists.
        elif not target.is_file() and target not in self.overlay:
            self.error(file.display, line, f"'{parts.path}' does not exist")
        elif target.suffix.lower() not in ASSET_SUFFIXES:
            self.error(
                file.display,
                line,
                f"'{parts.path}': only {', '.join(sorted(ASSET_SUFFIXES))} files are served",
            )

    # -- helpers -----------------------------------------------------------------------------

    def parse_yaml(self, path: Path, display: str) -> YamlDocument | None:
        text = self.read_text(path)
        if text is None:
            return None
        try:
            return self.cache.load(text) if self.cache is not None else load_yaml(text)
        except YamlError as exc:
            self.error(display, exc.line, exc.message)
            return None

    def check_bank_file(self, path: Path, display: str) -> CheckedFile | None:
        """A bank file parsed and validated on its own, through the cache when there is one (an
        unchanged file is then neither parsed nor validated again); None if it is not YAML."""
        text = self.read_text(path)
        if text is None:
            return None
        try:
            if self.cache is None:
                return check_bank_file(display, load_yaml(text))
            return self.cache.checked(text, display, lambda: check_bank_file(display, load_yaml(text)))
        except YamlError as exc:
            self.error(display, exc.line, exc.message)
            return None

    def validate(
        self, model: type[M], data: Any, doc: YamlDocument, display: str, prefix: tuple[str | int, ...] = ()
    ) -> M | None:
        if not isinstance(data, dict):
            self.error(display, doc.line_of(prefix), "must be a mapping of keys to values")
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(validation_problems(exc, doc, display, prefix))
            return None

    def _error_count(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")


class _Rewriter:
    """Maps relative links in a module to site URLs: modules to their page, assets to the
    course's asset route. Anything else (external links, anchors) is left alone."""

    def __init__(
        self, base: Path, course_dir: Path, course_id: str, by_path: dict[Path, tuple[str, str]]
    ) -> None:
        self.base = base
        self.assets = (course_dir / "assets").resolve()
        self.course_id = course_id
        self.by_path = by_path

    def __call__(self, url: str, kind: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(("/", "#")) or not parts.path:
            return None
        target = (self.base / parts.path).resolve()
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        if target in self.by_path:
            course_id, module_id = self.by_path[target]
            return f"/courses/{course_id}/{module_id}{fragment}"
        if target.is_relative_to(self.assets):
            relative = PurePosixPath(target.relative_to(self.assets).as_posix())
            return f"/courses/{self.course_id}/assets/{relative}"
        return "#"  # the check has reported it; never emit a path that points outside


def _hash_folder(path: Path, overlay: Mapping[Path, str]) -> str:
    """The hash of the folder as served: a published version counts as the file it replaces."""
    digest = hashlib.sha256()
    on_disk = {p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")}
    # Uploaded images (trainer.content.assets) are in the overlay under assets/, as their SHA-256.
    for file in sorted(on_disk | {p for p in overlay if p.is_relative_to(path)}):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(overlay[file].encode() if file in overlay else file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _not_in_force(code: str, regulation: Regulation, regulations: dict[str, Regulation]) -> str:
    """ "'x' (Title, edition), which is repealed: superseded by 'y' (Title)" for a warning."""
    edition = f", {regulation.edition}" if regulation.edition else ""
    text = f"'{code}' ({regulation.title}{edition}), which is {regulation.status}"
    successor = regulation.superseded_by
    if successor is not None and successor in regulations:
        text += f": superseded by '{successor}'"
    return text


def search_documents(courses: list[Course]) -> list[SearchDocument]:
    """What search covers: each course's title and summary, and each module's title, summary,
    objectives and text, in every language they are written in."""
    documents = []
    for course in courses:
        for lang, text in course.texts.items():
            documents.append(
                SearchDocument(
                    key=f"{course.id}:{lang}",
                    kind="course",
                    course_id=course.id,
                    module_id=None,
                    lang=lang,
                    title=text.title,
                    summary=text.summary,
                    text="",
                )
            )
        for module in course.modules:
            for version in module.versions.values():
                documents.append(
                    SearchDocument(
                        key=f"{module.id}:{version.lang}",
                        kind="module",
                        course_id=course.id,
                        module_id=module.id,
                        lang=version.lang,
                        title=version.title,
                        summary=" ".join([version.summary, *version.objectives]),
                        text=version.text,
                    )
                )
    return documents


def _fills_twice(bank: Bank, domain: str, rows: list[DrawRow]) -> bool:
    candidates = [[q.id for q in bank.candidates(domain, row, "exam")] for row in rows]
    rows_of = rows_of_questions(candidates)
    return fill_exactly([2 * row.count for row in rows], rows_of, units_for(bank, rows_of)).full


def _describe(row: DrawRow) -> str:
    parts = [f"tags {', '.join(row.tags)}" if row.tags else "any tags"]
    if row.difficulty:
        parts.append(f"difficulty {row.difficulty[0]}-{row.difficulty[1]}")
    return "; ".join(parts)
