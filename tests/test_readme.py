"""The README promises only what exists: every `trainer` command and option it names is in the
CLI (read from the Typer app itself), every `TRAINER_*` setting it names is in `config.py` and
every setting there is in the README, and every `make` target it names is in the Makefile."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.core import TyperGroup

from trainer.cli import app
from trainer.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Named in the README but read by the test suite, not the app (see tests/conftest.py).
TEST_SETTINGS = {"TRAINER_TEST_DATABASE_URL"}
WORD = re.compile(r"[a-z][a-z0-9-]*")
OPTION = re.compile(r"--[a-z][a-z0-9-]*")


def _code() -> list[str]:
    """Inline code spans (joined across line breaks) and the lines of shell blocks."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.M | re.S)
    shell = [line for lang, body in blocks if lang in ("sh", "bash", "console") for line in body.splitlines()]
    prose = re.sub(r"^```.*?^```", "", README, flags=re.M | re.S)
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return spans + [line.split("#")[0].strip() for line in shell]


def _invocations(program: str) -> list[list[str]]:
    """Each use of `program` in code, as its words (leading VAR=value assignments skipped)."""
    found = []
    for code in _code():
        words = code.replace("\\|", " | ").split()
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]
        if len(words) > 1 and words[0] == program:  # not the bare name ("the `trainer` command")
            found.append(words[1:])
    return found


@cache
def _cli() -> TyperGroup:
    """The click command tree Typer builds from `trainer.cli.app` (Typer vendors its own click)."""
    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return command


def _options(command: Any) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def _resolve(words: list[str]) -> tuple[str, Any, list[str]]:
    """The (sub)command the words name (its path and itself), and the words after it."""
    command: Any = _cli()
    rest = list(words)
    while isinstance(command, TyperGroup):
        if not rest or rest[0] not in command.commands:
            path = " ".join(words[: len(words) - len(rest) + 1])
            raise AssertionError(f"README names `trainer {path}`, which is not a command")
        command = command.commands[rest.pop(0)]
    return " ".join(words[: len(words) - len(rest)]), command, rest


def _problems(words: list[str]) -> list[str]:
    """What is wrong with `trainer <words>` as a promise: no such command, or no such option."""
    try:
        path, command, rest = _resolve(words)
    except AssertionError as error:
        return [str(error)]
    return [
        f"`trainer {' '.join(words)}`: {path} has no {option}"
        for option in OPTION.findall(" ".join(rest))
        if option not in _options(command)
    ]


def test_the_readme_names_commands_the_cli_has() -> None:
    uses = _invocations("trainer")
    assert len(uses) > 20  # the command table at least: the parser found the README's commands
    problems = [problem for words in uses for problem in _problems(words)]
    assert not problems, "\n".join(problems)


def test_every_command_of_the_cli_is_in_the_readme() -> None:
    def leaves(group: TyperGroup, prefix: str) -> list[str]:
        names = []
        for name, command in group.commands.items():
            if isinstance(command, TyperGroup):
                names += leaves(command, f"{prefix}{name} ")
            else:
                names.append(prefix + name)
        return names

    named = {_resolve(words)[0] for words in _invocations("trainer")}
    missing = [name for name in leaves(_cli(), "") if name not in named]
    assert not missing, f"commands the README does not describe: {missing}"


def test_the_readme_and_config_name_the_same_settings() -> None:
    in_readme = set(re.findall(r"\bTRAINER_[A-Z0-9_]*[A-Z0-9]", README))
    in_config = {f"TRAINER_{name.upper()}" for name in Settings.model_fields}
    assert Settings.model_config.get("env_prefix") == "TRAINER_"
    assert all(name in (ROOT / "tests" / "conftest.py").read_text() for name in TEST_SETTINGS)
    unknown = in_readme - in_config - TEST_SETTINGS
    assert not unknown, f"README names settings config.py lacks: {sorted(unknown)}"
    assert not in_config - in_readme, f"settings the README does not name: {sorted(in_config - in_readme)}"


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_-]+):(?!=)", makefile, flags=re.M))


def test_the_readme_names_make_targets_the_makefile_has() -> None:
    targets = _make_targets()
    assert {"run", "test", "install"} <= targets  # the Makefile was read
    uses = _invocations("make")
    assert uses
    named = {word for words in uses for word in words if WORD.fullmatch(word)}
    assert named, "no make target found in the README"
    assert not named - targets, f"README names make targets the Makefile lacks: {named - targets}"


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["reminders", "--sned"], "reminders has no --sned"),
        (["audit", "verify", "[--anchor", "LINE", "|", "--head]"], "audit verify has no --head"),
        (["nonsense"], "`trainer nonsense`, which is not a command"),
        (["db", "downgrade"], "`trainer db downgrade`, which is not a command"),
        (["db"], "`trainer db`, which is not a command"),
    ],
)
def test_the_check_catches_a_wrong_promise(words: list[str], error: str) -> None:
    """The check can fail: a misspelt option or an unknown command is reported."""
    assert any(error in problem for problem in _problems(words)), _problems(words)
