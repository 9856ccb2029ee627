"""The shapes of course.yaml, module front matter and regulations.yaml.

Strict on purpose: an unknown key is usually a typo (`pass-mark` for `pass_mark`), and a value of
the wrong type is usually a YAML surprise (`edition: 2022` is a number, not text). Both are errors
the trainer is told about, never guesses we make silently. `trainer schemas` writes these models
out as JSON Schema so editors can check a file while it is typed.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from trainer.config import Language

Domain = Literal["coal", "gas", "hazchem", "fire", "emergency", "enforcement"]
DOMAINS: tuple[Domain, ...] = ("enforcement", "coal", "gas", "hazchem", "fire", "emergency")

# Ids and tags: lowercase words joined by hyphens, so they are safe in URLs and file names.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]

RESERVED_MODULE_IDS = {"assets", "exam", "certificate", "practice"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DrawRow(Strict):
    """Draw `count` questions that carry all `tags` and fall in the `difficulty` range."""

    tags: list[Slug] = Field(default_factory=list)
    difficulty: tuple[int, int] | None = None
    count: int = Field(ge=1, le=500)

    @field_validator("difficulty", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: object) -> object:
        # YAML gives a list; strict mode would refuse it for a tuple.
        return tuple(value) if isinstance(value, list) else value

    @field_validator("difficulty")
    @classmethod
    def _difficulty_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None:
            low, high = value
            if not (1 <= low <= high <= 5):
                raise ValueError("difficulty must be [low, high] with 1 <= low <= high <= 5")
        return value


class ExamPolicy(Strict):
    time_limit_minutes: int = Field(ge=1, le=600)
    pass_mark: float = Field(gt=0, le=1)
    max_attempts: int = Field(ge=1, le=100)
    retake_after_hours: int = Field(default=0, ge=0, le=24 * 365)
    # score: score and pass only; by_tag: also the score per tag and regulation and which
    # questions were wrong, never a key; after_submit / after_deadline: the full review with
    # keys; never: nothing but the result.
    review: Literal["score", "by_tag", "after_submit", "after_deadline", "never"] = "after_submit"
    blueprint: list[DrawRow] = Field(min_length=1)
    # anytime: an inspector starts the exam whenever the course's rules allow; sittings: only
    # inside an open sitting they are on the roster of (trainer.sittings), and `after_deadline`
    # then means after the sitting's close.
    mode: Literal["anytime", "sittings"] = "anytime"


class Certification(Strict):
    title: Text
    requires: Literal["all-modules", "none"] = "all-modules"
    exam: ExamPolicy
    validity_months: int = Field(ge=1, le=240)
    renewal_window_days: int = Field(default=90, ge=0, le=3650)
    grace_days: int = Field(default=0, ge=0, le=3650)


class CourseTranslation(Strict):
    title: Text
    summary: Text | None = None
    certification_title: Text | None = None


class CourseFile(Strict):
    id: Slug
    title: Text
    domain: Domain
    lang: Language
    summary: Text
    sample: bool = False
    modules: list[Slug] = Field(min_length=1)
    translations: dict[Language, CourseTranslation] = Field(default_factory=dict)
    certification: Certification | None = None

    @field_validator("modules")
    @classmethod
    def _unique_modules(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for module_id in value:
            if module_id in seen:
                raise ValueError(f"module '{module_id}' is listed twice")
            seen.add(module_id)
        return value


class Practice(Strict):
    pass_mark: float = Field(default=0.8, gt=0, le=1)
    draw: list[DrawRow] = Field(min_length=1)


class ModuleFrontMatter(Strict):
    id: Slug
    title: Text
    lang: Language
    summary: Text
    estimated_minutes: int = Field(ge=1, le=600)
    objectives: list[Text] = Field(default_factory=list)
    regulations: list[Slug] = Field(default_factory=list)
    tags: list[Slug] = Field(default_factory=list)
    practice: Practice | None = None
    sample: bool = False

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_MODULE_IDS:
            raise ValueError(f"'{value}' is reserved for the site's own pages; choose another id")
        return value


class RegulationTranslation(Strict):
    title: Text
    issuer: Text | None = None
    edition: Text | None = None
    note: Text | None = None


# Whether the edition recorded is the law today. `amended`: still in force, but a later amendment
# or revision changed this edition (check what is cited against the current text); `repealed`: no
# longer in force at all. Both make `trainer check` name every module and question citing it.
RegulationStatus = Literal["in-force", "amended", "repealed"]
REGULATION_STATUSES: tuple[RegulationStatus, ...] = ("in-force", "amended", "repealed")


class Regulation(Strict):
    title: Text
    issuer: Text
    edition: Text | None = None
    effective: IsoDate | None = None
    # Optional so that a file written before statuses existed still loads; `trainer check` warns
    # about a regulation without one (whether a text is in force must be a decision, not a default).
    status: RegulationStatus | None = None
    superseded_by: Slug | None = None  # the code of the text that replaced or amended this one
    note: Text | None = None  # why the status is what it is, and on what source
    translations: dict[Language, RegulationTranslation] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _effective_is_a_date(self) -> Regulation:
        if self.effective is not None:
            year, month, day = (int(part) for part in self.effective.split("-"))
            if not (1 <= month <= 12 and 1 <= day <= 31 and year >= 1900):
                raise ValueError(f"effective: '{self.effective}' is not a date (YYYY-MM-DD)")
        return self

    @property
    def in_force(self) -> bool:
        """False only when the file says so: a regulation without a status is not flagged."""
        return self.status in (None, "in-force")

    def _translated(self, lang: str) -> RegulationTranslation | None:
        return self.translations.get(lang)  # type: ignore[call-overload, no-any-return]

    def title_in(self, lang: str) -> str:
        translated = self._translated(lang)
        return translated.title if translated else self.title

    def issuer_in(self, lang: str) -> str:
        translated = self._translated(lang)
        return translated.issuer if translated and translated.issuer else self.issuer

    def edition_in(self, lang: str) -> str | None:
        translated = self._translated(lang)
        return translated.edition if translated and translated.edition else self.edition

    def note_in(self, lang: str) -> str | None:
        translated = self._translated(lang)
        return translated.note if translated and translated.note else self.note


# tags.yaml: each tag's name per language, e.g. `methane: {en: Methane, zh-CN: 瓦斯}`.
TagNames = dict[Language, Text]


REGULATION_CODE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
