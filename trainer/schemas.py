"""The JSON API's shared contracts: each declared once, so the OpenAPI schema publishes each
under one clean name (two models of one name made FastAPI publish `trainer__quizzes__api__…`).

An attempt, a certificate and a unit look the same wherever the API returns them: the quiz
API, the holder's and the manager's certificate lists, `/me` and the reports API. The error
bodies are here too: `Problem` is what `trainer.errors.DomainError` answers, `Message` the
plain refusals of the request plumbing (no token, managers only, no such unit).

Bottom layer: pydantic only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class UnitOut(BaseModel):
    id: int
    name: str
    kind: str
    path: str


class AttemptRow(BaseModel):
    """One attempt as listed: its result, never its paper."""

    id: int
    kind: str
    course_id: str
    module_id: str | None
    status: str
    started_at: datetime
    submitted_at: datetime | None
    score: float | None
    max_score: float
    passed: bool | None


class AttemptOut(AttemptRow):
    """One attempt with its paper, as its owner reads it."""

    deadline: datetime | None
    # none while open; then per the course: full (keys and explanations), by_tag, or score
    review: str
    breakdown: dict[str, Any] | None = None  # by_tag: score per tag and regulation, wrong slots
    questions: list[dict[str, Any]]
    lang: str = "en"  # the paper's language, chosen at start and kept on resume and in the review


class CertificateOut(BaseModel):
    number: str
    verification_code: str
    course_id: str
    title: str
    state: str
    issued_at: datetime
    expires_at: datetime
    is_current: bool  # false once a newer certificate for the course replaced it


class Message(BaseModel):
    """The shape of the request plumbing's refusals: {"detail": "what went wrong"}."""

    detail: str


class ProblemDetail(BaseModel):
    """A refusal by the rules (trainer.errors.DomainError): an English message, a stable code,
    and whatever else helps (missing_modules, retry_after, locked, problems)."""

    model_config = ConfigDict(extra="allow")

    message: str
    code: str


class Problem(BaseModel):
    detail: ProblemDetail | str
