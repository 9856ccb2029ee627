"""Input refused at the edge, before any handler or database sees it.

Control characters have no business in anything a person types here: a NUL byte makes PostgreSQL
refuse the statement (a 500 instead of an answer), and the others (bell, escape, delete…) end up in
logs, exports and audit entries where they mislead or break things. So every request's path,
query string and body (form fields; JSON strings) is checked once: a control character gets a
clear 400. Tab and line breaks stay allowed in bodies (a reason may span lines); single-line
fields (names, units) refuse them in their own checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException, Request

# In a path or query string nothing below U+0020 is legitimate, nor DEL; the C1 range neither.
LINE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# In a body, tab, line feed and carriage return are text.
BODY_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# JSON carries control characters escaped; a cheap look at the raw bytes decides whether the
# body needs parsing at all (answer saves are the hottest path).
_JSON_ESCAPED_CONTROL = re.compile(
    rb"\\u00(?:[01][0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
)
REFUSAL = "control characters are not allowed"


def found(texts: Iterable[str], pattern: re.Pattern[str] = LINE_CONTROL) -> str | None:
    """The first control character in any of `texts`, as U+XXXX, or None."""
    for text in texts:
        match = pattern.search(text)
        if match:
            return f"U+{ord(match.group()):04X}"
    return None


def in_path_or_query(request: Request) -> str | None:
    params = request.query_params.multi_items()
    return found([request.scope["path"], *(k for k, _ in params), *(v for _, v in params)])


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def in_json(body: bytes) -> str | None:
    if not _JSON_ESCAPED_CONTROL.search(body):
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON: the body's own validation answers
    return found(_strings(document), BODY_CONTROL)


async def refuse_control_characters(request: Request) -> None:
    """An API dependency: 400 for a control character in the path, query or JSON body."""
    character = in_path_or_query(request)
    if character is None and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        character = in_json(await request.body())
    if character is not None:
        raise HTTPException(status_code=400, detail=f"{REFUSAL} (found {character})")
