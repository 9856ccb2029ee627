"""Item statistics for quiz questions, with the definitions of Moodle's quiz statistics report.

For one question over the N attempts in which it appeared, x is the question's mark as a fraction
of its maximum and X is the "rest of test" score of the same attempt (the attempt's total minus
this question's mark). Rest of test, not the whole total, so that a question is not correlated with
itself. See docs.moodle.org, "Quiz statistics calculations":

- facility index F = mean(x): how easy the question was (0..1);
- standard deviation SD of x, sample (divide by N - 1);
- discrimination index D = 100 * r(x, X), Pearson's correlation: do stronger candidates do better;
- discriminative efficiency DE = 100 * C(x, X) / Cmax(x, X), where Cmax is the covariance when x
  and X are each sorted ascending and paired in that order, the largest covariance those marks
  allow. D is held down by the marks' shapes (a question worth little cannot correlate perfectly
  with a long test); DE says how much of the possible discrimination the question achieves.

D and DE do not change when x is scaled, so x as a fraction and X in marks mix freely.

Pure: plain numbers in, plain numbers out; no web or database imports, so it is easy to test and
to run from the command line on an exported CSV.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

FLAGS = ("too_hard", "too_easy", "low_discrimination")


@dataclass(frozen=True)
class ItemStats:
    """One question's statistics; None where the number is undefined for these attempts."""

    question: str
    attempts: int  # N
    facility: float | None  # None when N == 0
    sd: float | None
    discrimination_index: float | None
    discriminative_efficiency: float | None


@dataclass(frozen=True)
class Thresholds:
    """Where a question is worth a reviewer's look (facility as a fraction, D in percent)."""

    facility_low: float = 0.2
    facility_high: float = 0.95
    discrimination_low: float = 20.0


class MarksError(ValueError):
    """A marks file that cannot be read; `line` is 1-based, for the message a user acts on."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _mean(values: Sequence[float]) -> float:
    # fsum keeps the sum exact before the one rounding of the division. When all values are equal
    # the mean is that value exactly, so the deviations are exactly zero and a constant column
    # is recognised as such (fsum([0.1] * 3) / 3 is not 0.1).
    if min(values) == max(values):
        return values[0]
    return math.fsum(values) / len(values)


def _deviations(values: Sequence[float]) -> list[float]:
    # Two passes (mean first, then deviations) avoid the cancellation of sum(x²) - n·mean².
    mean = _mean(values)
    return [v - mean for v in values]


def _cross(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(p * q for p, q in zip(a, b, strict=True))


def item_stats(question: str, pairs: Sequence[tuple[float, float]]) -> ItemStats:
    """Statistics of one question from (x as a fraction, rest-of-test score) per attempt."""
    n = len(pairs)
    if n == 0:
        return ItemStats(question, 0, None, None, None, None)
    xs = [float(x) for x, _ in pairs]
    rest = [float(y) for _, y in pairs]
    facility = _mean(xs)
    if n < 2:
        return ItemStats(question, n, facility, None, None, None)

    dx, dy = _deviations(xs), _deviations(rest)
    sxx, syy, sxy = _cross(dx, dx), _cross(dy, dy), _cross(dx, dy)
    sd = math.sqrt(sxx / (n - 1))

    discrimination = None
    if sxx > 0 and syy > 0:
        # sqrt of each factor, not of the product, so tiny variances do not underflow to zero.
        r = sxy / (math.sqrt(sxx) * math.sqrt(syy))
        # |r| <= 1 exactly; rounding may step a hair past it.
        discrimination = 100 * max(-1.0, min(1.0, r))

    efficiency = None
    # Sorting each list pairs its deviations in ascending order too (the mean is the same), so the
    # sum of their products is (N - 1) * Cmax; the (N - 1) cancels in C / Cmax.
    sxy_max = _cross(sorted(dx), sorted(dy))
    if sxy_max > 0:
        # C <= Cmax (rearrangement inequality); rounding may step a hair past it. No floor: the
        # most negative covariance can be larger in size than Cmax, so DE may go below -100.
        efficiency = 100 * min(1.0, sxy / sxy_max)

    return ItemStats(question, n, facility, sd, discrimination, efficiency)


def flags(stats: ItemStats, thresholds: Thresholds) -> list[str]:
    """Reasons to review a question, in the order of FLAGS."""
    found: list[str] = []
    if stats.facility is not None and stats.facility < thresholds.facility_low:
        found.append("too_hard")
    if stats.facility is not None and stats.facility > thresholds.facility_high:
        found.append("too_easy")
    if stats.discrimination_index is not None and stats.discrimination_index < thresholds.discrimination_low:
        found.append("low_discrimination")
    return found


def from_marks_matrix(header: Sequence[str], rows: Sequence[Sequence[float | None]]) -> list[ItemStats]:
    """One ItemStats per column, in column order, from one row of marks per attempt.

    Marks are fractions of each question's maximum and None means the question was not in that
    attempt. Every question counts 1 towards the total, so an attempt's rest of test for a question
    is the sum of the row's other marks.
    """
    for number, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise ValueError(f"row {number} has {len(row)} marks for {len(header)} questions")
    rests = [_rest_of_test(row) for row in rows]
    result: list[ItemStats] = []
    for column, question in enumerate(header):
        pairs = [
            (mark, rest[column])
            for row, rest in zip(rows, rests, strict=True)
            if (mark := row[column]) is not None
        ]
        result.append(item_stats(question, pairs))
    return result


def _rest_of_test(row: Sequence[float | None]) -> list[float]:
    """For each mark in the row, the sum of the row's other marks, exactly and then rounded once.

    Not `total - mark` in floats: that leaves rounding noise (0.1 + 0.05 - 0.1 is not 0.05), and
    noise in a rest of test that is really constant makes up a correlation where there is none.
    Every float is an integer over a power of two, so over the row's largest denominator the sums
    are exact integers, and int / int rounds correctly. Linear in the row, unlike summing the other
    marks again for each column. The entry at a None mark is never read.
    """
    ratios = [(0, 1) if mark is None else float(mark).as_integer_ratio() for mark in row]
    scale = max((d for _, d in ratios), default=1)  # powers of two: every d divides the largest
    numerators = [n * (scale // d) for n, d in ratios]
    total = sum(numerators)
    return [(total - n) / scale for n in numerators]


def read_marks_csv(text: str) -> tuple[list[str], list[list[float | None]]]:
    """Parse a marks CSV: a header row of question ids, then one row of marks (0..1) per attempt.

    An empty cell is a question that was not in that attempt. Blank lines are skipped. A UTF-8 BOM
    (as spreadsheet programs write) and spaces around cells are tolerated. Anything else that does
    not fit raises MarksError with the line, since a silently misread file would give wrong
    statistics that look right.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header: list[str] | None = None
    header_line = 1
    rows: list[list[float | None]] = []
    try:
        for raw in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in raw]
            if not any(cells) and len(cells) <= 1:
                continue  # a blank line
            if header is None:
                header, header_line = _read_header(cells, line), line
                continue
            if len(cells) != len(header):
                raise MarksError(
                    line, f"{len(cells)} cell(s), but the header names {len(header)} question(s)"
                )
            rows.append(
                [_read_mark(cell, question, line) for cell, question in zip(cells, header, strict=True)]
            )
    except csv.Error as exc:
        raise MarksError(reader.line_num or 1, f"not valid CSV: {exc}") from None
    if header is None:
        raise MarksError(1, "no header: expected a first row of question ids")
    if not rows:
        raise MarksError(header_line, "no data rows after the header")
    return header, rows


def _read_header(cells: list[str], line: int) -> list[str]:
    seen: set[str] = set()
    for number, question in enumerate(cells, start=1):
        if not question:
            raise MarksError(line, f"column {number}: empty question id")
        if question in seen:
            raise MarksError(line, f"column {number}: duplicate question id {question!r}")
        seen.add(question)
    return cells


def _read_mark(cell: str, question: str, line: int) -> float | None:
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise MarksError(line, f"{question}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise MarksError(line, f"{question}: {cell!r} is not a number")
    if not 0 <= value <= 1:
        raise MarksError(line, f"{question}: {cell} is outside 0..1 (marks are fractions of the maximum)")
    return value


def format_table(stats: Sequence[ItemStats], thresholds: Thresholds) -> str:
    """A plain-text table, one line per question, aligned also for Chinese question ids."""
    header = ("question", "N", "facility %", "SD %", "discrimination", "efficiency", "flags")
    lines = [header] + [
        (
            s.question,
            str(s.attempts),
            _number(s.facility, 100),
            _number(s.sd, 100),
            _number(s.discrimination_index),
            _number(s.discriminative_efficiency),
            ", ".join(flags(s, thresholds)),
        )
        for s in stats
    ]
    widths = [max(_width(line[i]) for line in lines) for i in range(len(header))]
    out: list[str] = []
    for line in lines:
        cells = [_pad(line[0], widths[0], left=True)]
        cells += [_pad(cell, width, left=False) for cell, width in zip(line[1:-1], widths[1:-1], strict=True)]
        cells.append(line[-1])
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _number(value: float | None, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.1f}"


def _width(text: str) -> int:
    # Wide (CJK) characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, *, left: bool) -> str:
    fill = " " * (width - _width(text))
    return text + fill if left else fill + text
