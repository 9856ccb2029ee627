"""The loaded course library: immutable, fully validated, rendered once."""

from __future__ import annotations

from dataclasses import dataclass, field

from trainer.content.bank import Bank
from trainer.content.problems import Problem
from trainer.content.render import TocEntry
from trainer.content.schemas import Certification, Domain, Practice, Regulation
from trainer.content.search import SearchIndex


@dataclass(frozen=True)
class ModuleVersion:
    """One language version of a module."""

    lang: str
    title: str
    summary: str
    objectives: tuple[str, ...]
    html: str
    toc: tuple[TocEntry, ...]
    text: str
    words: int
    source: str  # file path, relative to the content root
    sha256: str = ""  # of the file's text: what a published version's `sha256` is (content_versions)


@dataclass(frozen=True)
class Module:
    id: str
    course_id: str
    position: int  # 1-based, in the course's reading order
    estimated_minutes: int
    regulations: tuple[str, ...]
    tags: tuple[str, ...]
    practice: Practice | None
    sample: bool
    lang: str  # the original's language
    versions: dict[str, ModuleVersion]

    def version_for(self, lang: str) -> ModuleVersion:
        return self.versions.get(lang) or self.versions[self.lang]

    @property
    def original(self) -> ModuleVersion:
        return self.versions[self.lang]


@dataclass(frozen=True)
class CourseText:
    title: str
    summary: str
    certification_title: str | None


@dataclass(frozen=True)
class Course:
    id: str
    domain: Domain
    lang: str
    sample: bool
    texts: dict[str, CourseText]  # by language; always has `lang`
    modules: tuple[Module, ...]
    certification: Certification | None
    content_hash: str

    def text_for(self, lang: str) -> CourseText:
        return self.texts.get(lang) or self.texts[self.lang]

    def module(self, module_id: str) -> Module | None:
        for module in self.modules:
            if module.id == module_id:
                return module
        return None

    @property
    def estimated_minutes(self) -> int:
        return sum(m.estimated_minutes for m in self.modules)


@dataclass(frozen=True)
class Citations:
    """A regulation that is not in force, and what in the library still cites it."""

    code: str
    regulation: Regulation
    modules: tuple[Module, ...]
    questions: tuple[str, ...]  # question ids (a scenario's id for its own refs)


@dataclass(frozen=True)
class Library:
    courses: dict[str, Course]  # in catalogue order
    regulations: dict[str, Regulation]
    search: SearchIndex
    bank: Bank = field(default_factory=Bank)
    warnings: tuple[Problem, ...] = ()
    modules: dict[str, Module] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # tag -> language -> name
    # The languages a paper can be served in, per pool: ("exam", course id) or ("practice",
    # module id) -> its questions' own language and every one they are translated into.
    paper_languages: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    # The question bank as served (every file the load read, published versions in their place),
    # like a course's `content_hash`: the same on every process that loaded the same content. A
    # paper drawn ahead (trainer.sittings.papers) is served only if it still matches.
    bank_hash: str = ""

    def __post_init__(self) -> None:
        for course in self.courses.values():
            for module in course.modules:
                self.modules[module.id] = module

    def regulation_title(self, code: str, lang: str) -> str:
        """The regulation's title in `lang` (its English title where it has none); the code
        itself for a code the library does not know (an old paper's citation)."""
        regulation = self.regulations.get(code)
        return regulation.title_in(lang) if regulation is not None else code

    def tag_name(self, tag: str, lang: str) -> str:
        """The tag's name in `lang`, else in English, else in any language it has; its code only
        when tags.yaml names it in none (which `trainer check` reports)."""
        names = self.tags.get(tag)
        if not names:
            return tag
        return names.get(lang) or names.get("en") or next(iter(names.values()))

    def not_in_force(self) -> list[Citations]:
        """Every regulation marked amended or repealed, with the modules and questions citing it."""
        found = []
        for code, regulation in self.regulations.items():
            if regulation.in_force:
                continue
            modules = tuple(m for m in self.modules.values() if code in m.regulations)
            questions = sorted(
                {q.id for q in self.bank.questions.values() if any(r.reg == code for r in q.model.refs)}
                | {s.id for s in self.bank.scenarios.values() if any(r.reg == code for r in s.refs)}
            )
            found.append(Citations(code, regulation, modules, tuple(questions)))
        return found

    @property
    def module_count(self) -> int:
        return len(self.modules)

    @property
    def word_count(self) -> int:
        return sum(v.words for m in self.modules.values() for v in m.versions.values())
