"""Strict YAML reading with line numbers, for files that trainers write by hand.

PyYAML follows YAML 1.1, where `no` is false, `1.10` is the float 1.1 and an unquoted date becomes
a `date`. A content file is a user interface, so we read a stricter dialect:

- only `true`/`false` (any case) are booleans; `yes`, `no`, `on`, `off` stay strings, and the
  schema then rejects them where a boolean is expected, with a message that names the line;
- dates and times stay strings (the schema decides whether it wants one);
- a key repeated in one mapping is an error (PyYAML silently keeps the last one);
- a character YAML does not allow (a control character such as \x07 pasted from elsewhere) is an
  error at its line, like any other (PyYAML raises it before parsing, without a line).

Every value's line is recorded by its path (a tuple of keys and list indexes), so that a schema
error deep in a document can still be reported at the line the trainer must edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]


class _StrictResolver(yaml.resolver.Resolver):
    """YAML 1.1 resolver without the surprising implicit types."""


# Copy the default resolvers, then drop bool and timestamp, and add a strict bool back.
_StrictResolver.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_StrictResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _StrictLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _StrictResolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _StrictResolver.__init__(self)


_STR = "tag:yaml.org,2002:str"

if yaml.__with_libyaml__:  # PyYAML's wheels ship libyaml; a build without it falls back below

    class _CStrictLoader(yaml.CSafeLoader, _StrictResolver):
        """The same dialect parsed by libyaml: several times faster than the pure-Python
        composer, and its nodes carry the same line marks.

        libyaml asks Python for the tag of every node (a third of parsing a bank file). With no
        path resolvers (this dialect has none) a scalar's tag depends on its text alone, and a
        quoted or block scalar is always text, so a plain scalar's tag is worked out once per
        document: keys and short values (`type: single`, `key: a`) repeat in every question."""

        yaml_implicit_resolvers = _StrictResolver.yaml_implicit_resolvers

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._plain_tags: dict[str, str] = {}

        def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
            if kind is not ScalarNode:
                return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
            if not implicit[0]:
                return _STR
            tag = self._plain_tags.get(value)
            if tag is None:
                tag = self._plain_tags[value] = str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
            return tag

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            pass  # path resolvers only: there are none

        def ascend_resolver(self) -> None:
            pass

    assert not _CStrictLoader.yaml_path_resolvers


class YamlError(Exception):
    """A document that is not valid YAML, or repeats a key. `line` is 1-based."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of the value at `path`, or of its closest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def load_yaml(text: str, first_line: int = 1) -> YamlDocument:
    """Parse one YAML document. `first_line` is the file line where `text` starts."""
    offset = first_line - 1
    node = _compose_fast(text)
    if node is False:  # not valid YAML: the pure-Python parser says what and where
        node = _compose(text, offset)
    doc = YamlDocument(data=None)
    if node is None:
        return doc
    doc.data = _to_python(node, (), doc.lines, offset)
    return doc


def _compose_fast(text: str) -> Node | Literal[False] | None:
    """The document's node tree from libyaml, or False when libyaml is missing or the text is not
    valid YAML. Errors are left to `_compose`, whose messages and lines trainers already know
    (libyaml words them differently)."""
    if not yaml.__with_libyaml__:
        return False
    loader = _CStrictLoader(text)
    try:
        node: Node | None = loader.get_single_node()
    except yaml.YAMLError:
        return False
    finally:
        loader.dispose()
    return node


def _compose(text: str, offset: int) -> Node | None:
    try:
        loader = _StrictLoader(text)
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, max(exc.position, 0)) + 1 + offset
        raise YamlError(
            f"invalid YAML: control character #x{exc.character:04x} is not allowed: remove it", at
        ) from None
    try:
        node: Node | None = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + offset if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", None) from None
    finally:
        loader.dispose()
    return node


def _to_python(node: Node, path: Path, lines: dict[Path, int], offset: int) -> Any:
    lines[path] = node.start_mark.line + 1 + offset
    if isinstance(node, MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise YamlError("keys must be plain text", key_node.start_mark.line + 1 + offset)
            key = _scalar(key_node)
            if key in result:
                raise YamlError(
                    f"key '{key}' appears twice in the same mapping",
                    key_node.start_mark.line + 1 + offset,
                )
            child: Path = (*path, key)
            result[key] = _to_python(value_node, child, lines, offset)
            # A key's own line is more useful than its value's for block values.
            lines[child] = key_node.start_mark.line + 1 + offset
        return result
    if isinstance(node, SequenceNode):
        return [_to_python(item, (*path, index), lines, offset) for index, item in enumerate(node.value)]
    assert isinstance(node, ScalarNode)
    return _scalar(node)


def _scalar(node: ScalarNode) -> Any:
    if node.tag == "tag:yaml.org,2002:bool":
        return node.value.lower() == "true"
    if node.tag == "tag:yaml.org,2002:int":
        return yaml.constructor.SafeConstructor.construct_yaml_int(_CONSTRUCTOR, node)
    if node.tag == "tag:yaml.org,2002:float":
        return yaml.constructor.SafeConstructor.construct_yaml_float(_CONSTRUCTOR, node)
    if node.tag == "tag:yaml.org,2002:null":
        return None
    if node.tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
        return node.value
    raise YamlError(f"unsupported YAML tag {node.tag}", node.start_mark.line + 1)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
