"""The layering of `trainer/`, enforced: imports only go down, and the packages of a layer never
import each other in a circle.

The rules are the table `LAYERS` below, bottom first. Every module of `trainer/` must be in one
layer (so the table stays the whole truth); a pattern naming a module exactly beats a `*`. A
module may import its own layer and every layer below it, or, where `sees` is given, only the
layers named there: web plumbing knows nothing but the base, and pages and the API do not import
each other.

The import graph is read with `ast`, every `import` and `from … import` anywhere in a module:
inside functions (the CLI's deferred imports) and under `if TYPE_CHECKING:` too. An import that
only serves type hints is still a dependency a reader has to follow, so it counts.

A "package" is one domain folder's part in one layer (`quizzes` has tables in the base, services,
pages and an API): a domain folder is a column of the drawing, not a box, and the cycle check is
about the cells. Since imports between layers only go down, a cycle can only form inside a layer.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trainer"


@dataclass(frozen=True)
class Layer:
    name: str
    patterns: tuple[str, ...]  # paths under trainer/; `*` within a folder, `{a,b}` alternatives
    sees: tuple[str, ...] | None = None  # None: every layer below


# fmt: off
LAYERS = [
    Layer("base", (  # tables, foundations, and the bookkeeping every domain writes
        "{__init__,db,localtime,config,access,ratelimit,caching,errors,schemas,models,metrics,logs}.py",
        "i18n/*.py", "audit/*.py", "tallies/*.py", "*/models.py",
        "certification/credentials.py",  # Ed25519 keys and JWS: config checks TRAINER_BADGE_KEY
    )),
    Layer("core", (  # pure logic: the content library, paper assembly and scoring, item statistics
        "content/{__init__,authoring,bank,bank_schemas,file_drafts,library,loader,parsecache,pools,problems}.py",
        "content/{course_forms,question_forms,translation_forms}.py",
        "content/render.py",
        "content/{schemas,search,store,translations,yamlio}.py",
        "quizzes/{__init__,assembly,gift,scoring,snapshot}.py", "certification/{__init__,policy}.py",
        "people/__init__.py", "reports/{__init__,itemstats}.py", "sittings/{__init__,rules}.py",
        "notifications/{__init__,ical}.py", "assignments/{__init__,rules}.py",
    )),
    Layer("services", (
        "content/{assets,new_courses,new_modules,publishing,service}.py",
        "people/{auth,demo,housekeeping,importing,passwords,service,throttle}.py",
        "quizzes/{answer_writer,flags,service}.py", "certification/service.py",
        "sittings/{service,papers}.py",
        "assignments/service.py",
        "notifications/{mail,outbox}.py",
    )),
    Layer("reports", (
        "reports/{charts,compliance,exports,items,records,reminders,shared,synthetic}.py",
        "notifications/due.py",  # composes from every domain: sittings, certificates, the reminders list
    )),
    Layer("web", ("web/*.py",), sees=("base",)),  # request plumbing: knows no domain
    Layer("api", (  # certification/views serves both; the paper warmer runs on the API's exam threads
        "*/api.py", "certification/views.py", "quizzes/paper_warmer.py",
    )),
    Layer("pages", ("*/views.py", "*/*_views.py", "quizzes/dashboard.py", "web/views.py"),
          sees=("base", "core", "services", "reports", "web")),
    Layer("top", ("{app,migrate}.py", "cli.py", "cli/*.py", "migrations/*.py", "migrations/*/*.py")),
]
# fmt: on


def _expand(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [x for option in match.group(1).split(",") for x in _expand(head + option + tail)]


def _matches(relative: str, pattern: str) -> bool:
    # `*` stays inside one folder: compare folder by folder.
    parts, wanted = relative.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def layer_of(relative: str) -> str:
    """The layer whose patterns match the module; a pattern naming it exactly (no `*`) wins."""
    for exact in (True, False):
        found = [
            layer.name
            for layer in LAYERS
            if any(
                _matches(relative, x) and ("*" not in x) == exact for p in layer.patterns for x in _expand(p)
            )
        ]
        if found:
            assert len(found) == 1, f"trainer/{relative} matches several layers: {found}"
            return found[0]
    raise AssertionError(f"trainer/{relative} is in no layer: add it to LAYERS")


def package_of(relative: str) -> str:
    """The domain folder (`quizzes`) or the top-level module (`db`)."""
    first = relative.split("/", maxsplit=1)[0]
    return first.removesuffix(".py")


@dataclass(frozen=True)
class Edge:
    source: str  # module path under trainer/
    target: str
    line: int


def _module_files() -> dict[str, str]:
    """Dotted name -> path under trainer/, for every module."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        dotted = "trainer." + relative.removesuffix(".py").replace("/", ".")
        modules[dotted.removesuffix(".__init__")] = relative
    return modules


def _imported(
    tree: ast.Module, dotted: str, is_package: bool, modules: set[str]
) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import in the tree, wherever it stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                anchor = dotted.split(".") if is_package else dotted.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from trainer.web import state` imports the module trainer.web.state;
                # `from trainer.i18n import N_` imports from trainer.i18n itself.
                name = f"{base}.{alias.name}"
                yield (name if name in modules else base), node.lineno


def import_graph() -> list[Edge]:
    modules = _module_files()
    edges = set()
    for dotted, relative in modules.items():
        tree = ast.parse((PACKAGE / relative).read_text(encoding="utf-8"))
        for name, line in _imported(tree, dotted, relative.endswith("__init__.py"), set(modules)):
            target = modules.get(name)
            if target is not None and target != relative:
                edges.add(Edge(relative, target, line))
    return sorted(edges, key=lambda e: (e.source, e.line, e.target))


def _allowed(source_layer: str, target_layer: str) -> bool:
    order = [layer.name for layer in LAYERS]
    if source_layer == target_layer:
        return True
    sees = next(layer.sees for layer in LAYERS if layer.name == source_layer)
    if sees is not None:
        return target_layer in sees
    return order.index(target_layer) < order.index(source_layer)


def upward_imports() -> list[str]:
    return [
        f"trainer/{e.source}:{e.line} ({layer_of(e.source)}) imports "
        f"trainer/{e.target} ({layer_of(e.target)})"
        for e in import_graph()
        if not _allowed(layer_of(e.source), layer_of(e.target))
    ]


def package_graph() -> dict[str, set[str]]:
    """(layer, package) cells and the cells each imports, as "layer:package"."""
    graph: dict[str, set[str]] = {}
    for e in import_graph():
        source = f"{layer_of(e.source)}:{package_of(e.source)}"
        target = f"{layer_of(e.target)}:{package_of(e.target)}"
        graph.setdefault(source, set())
        graph.setdefault(target, set())
        if source != target:
            graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_every_module_is_in_exactly_one_layer() -> None:
    for relative in _module_files().values():
        layer_of(relative)


def test_no_import_goes_up() -> None:
    assert upward_imports() == []


def test_no_cycle_between_packages() -> None:
    assert cycles(package_graph()) == []


def test_the_check_sees_imports_in_functions_and_under_type_checking() -> None:
    """The reader itself, on code shaped like the cases it must not miss."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from trainer.web.templating import Templates\n"
        "def run():\n    from trainer.reports import compliance\n"
        "from . import service\n"
    )
    modules = {"trainer.web.templating", "trainer.reports.compliance", "trainer.quizzes.service"}
    names = {name for name, _ in _imported(ast.parse(source), "trainer.quizzes.views", False, modules)}
    assert names >= modules


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("services", "base", True),
        ("base", "services", False),  # upward
        ("web", "services", False),  # plumbing knows no domain
        ("pages", "api", False),  # pages and the API are siblings
        ("top", "pages", True),
    ],
)
def test_the_rules_table_reads_as_drawn(source: str, target: str, allowed: bool) -> None:
    assert _allowed(source, target) is allowed


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
