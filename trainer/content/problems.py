"""Problems found in content files, reported as `file:line: message` for the trainer to fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from trainer.content.yamlio import YamlDocument


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{self.message}"


class LibraryError(Exception):
    """The content has errors; nothing of it may be served."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} problem(s) in the content:\n" + "\n".join(map(str, errors)))


_FRIENDLY = {
    "extra_forbidden": "unknown key (check the spelling against the format)",
    "missing": "required key is missing",
    "string_type": "must be text (put the value in quotes)",
    "bool_type": "must be true or false (yes/no/on/off are not accepted)",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "tuple_type": "must be a list",
}


def validation_problems(
    exc: ValidationError,
    doc: YamlDocument,
    file: str,
    prefix: tuple[str | int, ...] = (),
    clean_loc: Callable[[tuple[str | int, ...]], tuple[str | int, ...]] | None = None,
) -> list[Problem]:
    """Turn pydantic's errors into one problem each, at the line of the offending key.

    `clean_loc` removes parts of pydantic's error location that are not keys in the file (the
    tags of a discriminated union).
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if clean_loc is not None:
            loc = clean_loc(loc)
        path = (*prefix, *loc)
        field = ".".join(str(part) for part in loc) or "(document)"
        message = _FRIENDLY.get(error["type"], error["msg"])
        if error["type"] == "string_pattern_mismatch":
            message = "must be lowercase letters, digits and hyphens (like 'gas-alarms')"
            if field == "effective":
                message = 'must be a date written as "YYYY-MM-DD"'
        elif error["type"] == "literal_error":
            message = error["msg"].replace("Input should be", "must be")
        elif error["type"] == "value_error":
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        elif error["type"] not in _FRIENDLY:
            message = error["msg"].replace("Input should", "must").replace("Value error, ", "")
        problems.append(Problem(file, doc.line_of(path), f"{field}: {message}"))
    return problems
