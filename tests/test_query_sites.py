"""Views and API handlers translate HTTP to service calls and back; the services own every
query (trainer.web.unit opens the request's unit of work and hands its session down).

This test finds the query sites left in the web-facing modules (page views, API routers, the web
plumbing): a SQLAlchemy statement built (`select`, `insert`, `update`, `delete` imported from
sqlalchemy), a session or connection used (`db.execute(...)`, `db.get(...)`, `db.add(...)`…),
or a unit of work opened by hand (`database.session()`, `.write()`, `.write_connection()`).
`ALLOWED` is what is left, file by file: since issue 14 moved them all into services it is
empty, and a web module that gains a query site fails here. The exam-day hot paths run in
trainer.quizzes.service, so no web module needs one."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "trainer"

ALLOWED: dict[str, int] = {}  # file -> query sites still allowed in it: none

STATEMENTS = {"select", "insert", "update", "delete"}
SESSION_CALLS = {
    "execute",
    "scalar",
    "scalars",
    "get",
    "get_one",
    "add",
    "add_all",
    "delete",
    "flush",
    "commit",
}
SESSION_NAMES = {"db", "session", "conn", "connection"}
UNIT_OPENERS = {"session", "write", "write_connection"}


def is_web_module(path: Path) -> bool:
    return (
        path.name in ("views.py", "api.py", "dashboard.py")
        or path.name.endswith("_views.py")
        or path.parent.name == "web"
    )


def query_sites(source: str) -> int:
    tree = ast.parse(source)
    statements = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name in STATEMENTS
    }
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call) and _queries(node, statements))


def _queries(call: ast.Call, statements: set[str]) -> bool:
    called = call.func
    if isinstance(called, ast.Name):
        return called.id in statements
    if not isinstance(called, ast.Attribute):
        return False
    if called.attr in UNIT_OPENERS and not call.args and not call.keywords:
        return True
    receiver = called.value
    return called.attr in SESSION_CALLS and isinstance(receiver, ast.Name) and receiver.id in SESSION_NAMES


def test_query_sites_counts_what_it_should() -> None:
    sample = (
        "from sqlalchemy import select as s\n"
        "def f(database, db, items):\n"
        "    with database.session() as db:\n"
        "        db.execute(s(1))\n"
        "    items.add(1)\n"
        "    db.get(1, 2)\n"
    )
    assert query_sites(sample) == 4  # session(), execute, s(...), db.get; not a set's add


def test_web_modules_hold_no_more_query_sites_than_allowed() -> None:
    found = Counter(
        {
            str(path.relative_to(PACKAGE)): query_sites(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))
            if is_web_module(path)
        }
    )
    over = {
        name: (count, ALLOWED.get(name, 0)) for name, count in found.items() if count > ALLOWED.get(name, 0)
    }
    assert not over, f"query sites in web modules (found, allowed): {over}; move them into a service"
    stale = {name: (found[name], allowed) for name, allowed in ALLOWED.items() if found[name] < allowed}
    assert not stale, f"fewer query sites than allowed (found, allowed): {stale}; lower ALLOWED"
