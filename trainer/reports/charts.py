"""Charts drawn on the server as SVG geometry for the templates: they read without JavaScript,
scale with the page, and take their colours from the stylesheet (the CSP allows no inline
style). Every chart sits beside a table with the same numbers, for screen readers and print."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainer.reports.compliance import Counts


@dataclass(frozen=True)
class Segment:
    state: str
    x: float  # percent of the bar's width
    width: float
    count: int


@dataclass(frozen=True)
class Bar:
    label: str
    total: int
    segments: list[Segment]


def stacked_bars(rows: Sequence[tuple[str, Counts]], states: Sequence[str]) -> list[Bar]:
    """One 100%-wide bar per row, split into the shares of each state."""
    bars = []
    for label, counts in rows:
        segments, x = [], 0.0
        for state in states:
            n = counts.get(state)
            if n and counts.inspectors:
                width = 100.0 * n / counts.inspectors
                segments.append(Segment(state, round(x, 3), round(width, 3), n))
                x += width
        bars.append(Bar(label, counts.inspectors, segments))
    return bars


@dataclass(frozen=True)
class RateBar:
    month: str
    taken: int
    passed: int
    rate: float | None  # passed / taken
    x: float  # percent of the chart's width
    width: float
    height: float  # percent of the chart's height


def rate_bars(points: Sequence[tuple[str, int, int]]) -> list[RateBar]:
    """A pass-rate column per month (no column where no exam was taken)."""
    if not points:
        return []
    slot = 100.0 / len(points)
    bars = []
    for i, (month, taken, passed) in enumerate(points):
        rate = passed / taken if taken else None
        bars.append(
            RateBar(
                month,
                taken,
                passed,
                rate,
                round(i * slot + slot * 0.15, 3),
                round(slot * 0.7, 3),
                round(100.0 * (rate or 0.0), 3),
            )
        )
    return bars
