"""The sample library's citations of texts no longer in force.

`trainer check` warns at every module and question that cites a regulation marked amended or
repealed in regulations.yaml (docs/law-currency.md says why each is). The shipped library still
cites the 2015 penalty Measures in two enforcement modules and two questions: their point (the
Measures apply the Administrative Penalty Law to work-safety cases) has not been checked against
the 2025 Measures' text yet. Pinned here, so that any other such warning fails the tests until
someone looks at it, and so that re-citing these makes the tests say to remove them.
"""

from __future__ import annotations

from collections.abc import Iterable

from trainer.content.problems import Problem

KNOWN_CITATIONS_NOT_IN_FORCE = {
    ("courses/enforcement-law-procedure/02-inspection-procedure.md", "module el-inspection-procedure"),
    ("courses/enforcement-law-procedure/03-penalties-and-follow-up.md", "module el-penalties-and-follow-up"),
    ("question_bank/enforcement/inspection-procedure.yaml", "question EL-0032"),
    ("question_bank/enforcement/penalties.yaml", "question EL-0057"),
}
CITED = "cites 'work-safety-penalty-measures' "


def is_known(problem: Problem) -> bool:
    who = problem.message.split(" cites ", 1)[0]
    return (
        problem.severity == "warning"
        and CITED in problem.message
        and (problem.file, who) in KNOWN_CITATIONS_NOT_IN_FORCE
    )


def unexpected(problems: Iterable[Problem]) -> list[Problem]:
    """The problems other than the known citations; and every known one must still be there."""
    found = list(problems)
    known = {(p.file, p.message.split(" cites ", 1)[0]) for p in found if is_known(p)}
    assert known == KNOWN_CITATIONS_NOT_IN_FORCE, (
        "the sample library's citations of texts not in force changed: update tests/sample_law.py "
        f"(now {sorted(known)})"
    )
    return [p for p in found if not is_known(p)]
