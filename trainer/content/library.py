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
class Library:
    courses: dict[str, Course]  # in catalogue order
    regulations: dict[str, Regulation]
    search: SearchIndex
    bank: Bank = field(default_factory=Bank)
    warnings: tuple[Problem, ...] = ()
    modules: dict[str, Module] = field(default_factory=dict)
    # The languages a paper can be served in, per pool: ("exam", course id) or ("practice",
    # module id) -> its questions' own language and every one they are translated into.
    paper_languages: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for course in self.courses.values():
            for module in course.modules:
                self.modules[module.id] = module

    def regulation_title(self, code: str, lang: str) -> str:
        regulation = self.regulations[code]
        translation = regulation.translations.get(lang)  # type: ignore[call-overload]
        return translation.title if translation else regulation.title

    @property
    def module_count(self) -> int:
        return len(self.modules)

    @property
    def word_count(self) -> int:
        return sum(v.words for m in self.modules.values() for v in m.versions.values())
