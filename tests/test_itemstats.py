"""Item statistics (Moodle's quiz-statistics definitions) and the `trainer stats` command."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainer.reports.itemstats import (
    ItemStats,
    MarksError,
    Thresholds,
    flags,
    format_table,
    from_marks_matrix,
    item_stats,
    read_marks_csv,
)

# Five attempts at three questions, marks as fractions of each question's maximum (max 1 each).
# q1 was not in attempt 3; everyone got q2 right; q3 was hard.
#
#           q1     q2    q3     row total
#   A1      1      1     0      2
#   A2      0.5    1     0.5    2
#   A3      -      1     0      1
#   A4      0      1     0      1
#   A5      1      1     0.25   2.25
HEADER = ["q1", "q2", "q3"]
MATRIX: list[list[float | None]] = [
    [1.0, 1.0, 0.0],
    [0.5, 1.0, 0.5],
    [None, 1.0, 0.0],
    [0.0, 1.0, 0.0],
    [1.0, 1.0, 0.25],
]
MARKS_CSV = "q1,q2,q3\n1,1,0\n0.5,1,0.5\n,1,0\n0,1,0\n1,1,0.25\n"

# q1: N = 4 (A1, A2, A4, A5). x = 1, 0.5, 0, 1; rest of test X = q2 + q3 = 1, 1.5, 1, 1.25.
#   mean x = 2.5 / 4 = 0.625          deviations  0.375, -0.125, -0.625,  0.375
#   mean X = 4.75 / 4 = 1.1875        deviations -0.1875, 0.3125, -0.1875, 0.0625
#   Sxx = 0.140625 + 0.015625 + 0.390625 + 0.140625 = 0.6875
#   SXX = 0.03515625 + 0.09765625 + 0.03515625 + 0.00390625 = 0.171875
#   Sxy = -0.0703125 - 0.0390625 + 0.1171875 + 0.0234375 = 0.03125
#   F = 0.625;  SD = sqrt(0.6875 / 3) = sqrt(0.2291666…) = 0.4787135539
#   r = 0.03125 / sqrt(0.6875 * 0.171875) = 0.03125 / sqrt(0.1181640625) = 0.03125 / 0.34375 = 1/11
#   D = 100/11 = 9.0909…  (below 20: low_discrimination)
#   sorted x deviations -0.625, -0.125, 0.375, 0.375; sorted X deviations -0.1875, -0.1875, 0.0625, 0.3125
#   Sxy_max = 0.1171875 + 0.0234375 + 0.0234375 + 0.1171875 = 0.28125
#   DE = 100 * 0.03125 / 0.28125 = 100/9 = 11.111…
#
# q2: N = 5, x = 1 every time. F = 1 (> 0.95: too_easy), SD = 0, so D and DE are undefined (None).
#
# q3: N = 5. x = 0, 0.5, 0, 0, 0.25; X = q1 + q2 = 2, 1.5, 1, 1, 2 (A3 had no q1).
#   mean x = 0.75 / 5 = 0.15          deviations -0.15, 0.35, -0.15, -0.15, 0.1
#   mean X = 7.5 / 5 = 1.5            deviations  0.5,  0,   -0.5,  -0.5,  0.5
#   Sxx = 0.0225 + 0.1225 + 0.0225 + 0.0225 + 0.01 = 0.2
#   SXX = 0.25 * 4 = 1
#   Sxy = -0.075 + 0 + 0.075 + 0.075 + 0.05 = 0.125
#   F = 0.15 (< 0.2: too_hard);  SD = sqrt(0.2 / 4) = sqrt(0.05) = 0.2236067977
#   r = 0.125 / sqrt(0.2 * 1) = 0.2795084972;  D = 27.95084972 (not low)
#   sorted x deviations -0.15, -0.15, -0.15, 0.1, 0.35; sorted X deviations -0.5, -0.5, 0, 0.5, 0.5
#   Sxy_max = 0.075 + 0.075 + 0 + 0.05 + 0.175 = 0.375
#   DE = 100 * 0.125 / 0.375 = 33.333…
EXPECTED = {
    "q1": (4, 0.625, math.sqrt(0.6875 / 3), 100 / 11, 100 / 9),
    "q2": (5, 1.0, 0.0, None, None),
    "q3": (5, 0.15, math.sqrt(0.05), 100 * 0.125 / math.sqrt(0.2), 100 / 3),
}
EXPECTED_FLAGS = {"q1": ["low_discrimination"], "q2": ["too_easy"], "q3": ["too_hard"]}


def assert_stats(stats: ItemStats, expected: tuple[int, float, float, float | None, float | None]) -> None:
    attempts, facility, sd, discrimination, efficiency = expected
    assert stats.attempts == attempts
    assert stats.facility == pytest.approx(facility, abs=1e-6)
    assert stats.sd == pytest.approx(sd, abs=1e-6)
    for got, want in (
        (stats.discrimination_index, discrimination),
        (stats.discriminative_efficiency, efficiency),
    ):
        if want is None:
            assert got is None
        else:
            assert got == pytest.approx(want, abs=1e-6)


def test_hand_computed_matrix() -> None:
    results = from_marks_matrix(HEADER, MATRIX)
    assert [s.question for s in results] == HEADER
    for stats in results:
        assert_stats(stats, EXPECTED[stats.question])
        assert flags(stats, Thresholds()) == EXPECTED_FLAGS[stats.question]


def test_hand_computed_pairs() -> None:
    # q1's pairs as worked out above, given directly.
    stats = item_stats("q1", [(1, 1), (0.5, 1.5), (0, 1), (1, 1.25)])
    assert_stats(stats, EXPECTED["q1"])


def test_everyone_right_has_exact_zero_sd() -> None:
    # 0.1 three times: a naive mean is 0.10000000000000002 and the SD a tiny non-zero number.
    stats = item_stats("q", [(0.1, 1.0), (0.1, 2.0), (0.1, 3.0)])
    assert stats.sd == 0.0
    assert stats.discrimination_index is None
    assert stats.discriminative_efficiency is None


def test_no_attempts_and_one_attempt() -> None:
    assert item_stats("q", []) == ItemStats("q", 0, None, None, None, None)
    assert item_stats("q", [(0.5, 3.0)]) == ItemStats("q", 1, 0.5, None, None, None)
    assert flags(item_stats("q", []), Thresholds()) == []


def test_constant_rest_of_test_leaves_d_and_de_undefined() -> None:
    stats = item_stats("q", [(0.0, 2.0), (1.0, 2.0), (0.5, 2.0)])
    assert stats.sd == pytest.approx(0.5)
    assert stats.discrimination_index is None
    assert stats.discriminative_efficiency is None


def test_perfectly_aligned_question_has_full_efficiency_and_negative_one_is_negative() -> None:
    aligned = item_stats("q", [(0.0, 1.0), (1.0, 3.0), (1.0, 5.0), (0.0, 0.0)])
    assert aligned.discriminative_efficiency == pytest.approx(100.0)
    assert aligned.discrimination_index is not None
    assert 0 < aligned.discrimination_index < 100  # D is held down by the marks' shapes; DE is not
    reversed_ = item_stats("q", [(1.0, 0.0), (0.0, 2.0)])
    assert reversed_.discrimination_index == pytest.approx(-100.0)
    assert reversed_.discriminative_efficiency == pytest.approx(-100.0)


def test_efficiency_is_not_floored_at_minus_100() -> None:
    # x = 0, 0, 1 against X = 1, 1, 0: deviations -1/3, -1/3, 2/3 and 1/3, 1/3, -2/3;
    # Sxy = -1/9 - 1/9 - 4/9 = -6/9. Sorted: X deviations -2/3, 1/3, 1/3;
    # Sxy_max = 2/9 - 1/9 + 2/9 = 3/9. DE = 100 * (-6/9) / (3/9) = -200; D = -100.
    stats = item_stats("q", [(0.0, 1.0), (0.0, 1.0), (1.0, 0.0)])
    assert stats.discriminative_efficiency == pytest.approx(-200.0)
    assert stats.discrimination_index == pytest.approx(-100.0)


def test_flags_follow_the_thresholds_and_keep_their_order() -> None:
    stats = ItemStats("q", 10, 0.1, 0.3, 5.0, 10.0)
    assert flags(stats, Thresholds()) == ["too_hard", "low_discrimination"]
    assert flags(stats, Thresholds(facility_low=0.05, discrimination_low=5.0)) == []
    easy = ItemStats("q", 10, 0.99, 0.1, None, None)
    assert flags(easy, Thresholds()) == ["too_easy"]
    # On the threshold is not beyond it.
    assert flags(ItemStats("q", 10, 0.2, 0.1, 20.0, 30.0), Thresholds()) == []


def test_rest_of_test_is_summed_exactly() -> None:
    # In floats 0.1 + 0.05 - 0.1 is 0.05000000000000002, not 0.05: a rest of test computed as
    # total minus mark would vary here and make up a perfect correlation for q0.
    q0, _ = from_marks_matrix(["q0", "q1"], [[0.0, 0.05], [0.1, 0.05]])
    assert q0.sd == pytest.approx(math.sqrt(0.005))
    assert q0.discrimination_index is None
    assert q0.discriminative_efficiency is None


def test_from_marks_matrix_rejects_a_ragged_row() -> None:
    with pytest.raises(ValueError, match="row 2"):
        from_marks_matrix(["a", "b"], [[1.0, 0.0], [1.0]])


# --- reading the CSV -----------------------------------------------------------------------------


def test_read_marks_csv() -> None:
    assert read_marks_csv(MARKS_CSV) == (HEADER, MATRIX)


def test_read_marks_csv_tolerates_bom_spaces_and_blank_lines() -> None:
    text = "\ufeff q1 , 题目二\r\n 1 , \r\n\r\n0.5,0\r\n   \r\n"
    assert read_marks_csv(text) == (["q1", "题目二"], [[1.0, None], [0.5, 0.0]])


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "no header"),
        ("\n\n", 1, "no header"),
        ("q1,,q3\n1,1,1\n", 1, "empty question id"),
        ("q1,q2,q1\n1,1,1\n", 1, "duplicate question id 'q1'"),
        ("q1,q2\n", 1, "no data rows"),
        ("q1,q2\n1,0\n1\n", 3, "1 cell(s), but the header names 2"),
        ("q1,q2\n1,0\n1,0,1\n", 3, "3 cell(s)"),
        ("q1,q2\n1,0\n0,yes\n", 3, "'yes' is not a number"),
        ("q1,q2\n1,nan\n", 2, "'nan' is not a number"),
        ("q1,q2\n1,inf\n", 2, "'inf' is not a number"),
        ("q1,q2\n\n1,0\n1.5,0\n", 4, "1.5 is outside 0..1"),
        ("q1,q2\n-0.5,0\n", 2, "-0.5 is outside 0..1"),
    ],
)
def test_read_marks_csv_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(MarksError) as caught:
        read_marks_csv(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert words in str(caught.value)


def test_format_table_aligns_and_shows_dashes() -> None:
    table = format_table(from_marks_matrix(["q1", "很长的题目"], [[1.0, 1.0], [0.0, 1.0]]), Thresholds())
    lines = table.splitlines()
    assert lines[0].split() == [
        "question",
        "N",
        "facility",
        "%",
        "SD",
        "%",
        "discrimination",
        "efficiency",
        "flags",
    ]
    assert lines[1].split() == ["q1", "2", "50.0", "70.7", "-", "-"]
    assert lines[2].split() == ["很长的题目", "2", "100.0", "0.0", "-", "-", "too_easy"]
    # "很长的题目" is ten terminal columns wide: the N column starts at the same place on every line.
    assert lines[1].index("2") == lines[2].index("2") + 5


# --- properties ----------------------------------------------------------------------------------

fractions = st.floats(min_value=0, max_value=1)
rest_scores = st.floats(min_value=0, max_value=100)
pair_lists = st.lists(st.tuples(fractions, rest_scores), max_size=30)
# Marks on a grid, as quizzes give them: no variance lost in rounding, so scaling is exact enough.
grid_marks = st.integers(0, 20).map(lambda k: k / 20)
grid_pairs = st.lists(st.tuples(grid_marks, st.integers(0, 60).map(float)), min_size=2, max_size=30)


@given(pair_lists)
def test_property_ranges(pairs: list[tuple[float, float]]) -> None:
    stats = item_stats("q", pairs)
    assert stats.attempts == len(pairs)
    if pairs:
        assert stats.facility is not None
        assert 0 <= stats.facility <= 1
    if stats.sd is not None:
        assert 0 <= stats.sd <= 1
    if stats.discrimination_index is not None:
        assert -100 <= stats.discrimination_index <= 100
    if stats.discriminative_efficiency is not None:
        assert stats.discriminative_efficiency <= 100 + 1e-9


@given(grid_pairs, st.sampled_from([0.1, 0.25, 0.5, 2.0, 3.0, 7.0, 100.0]))
def test_property_scaling_x_leaves_d_and_de_unchanged(pairs: list[tuple[float, float]], scale: float) -> None:
    plain = item_stats("q", pairs)
    scaled = item_stats("q", [(x * scale, rest) for x, rest in pairs])
    for got, want in (
        (scaled.discrimination_index, plain.discrimination_index),
        (scaled.discriminative_efficiency, plain.discriminative_efficiency),
    ):
        if want is None:
            assert got is None
        else:
            assert got == pytest.approx(want, abs=1e-6)


@st.composite
def marks_matrices(draw: st.DrawFn) -> tuple[list[str], list[list[float | None]]]:
    columns = draw(st.integers(1, 5))
    rows = draw(st.lists(st.lists(st.none() | grid_marks, min_size=columns, max_size=columns), max_size=12))
    return [f"q{i}" for i in range(columns)], rows


@given(marks_matrices())
def test_property_matrix_equals_pairs_built_by_hand(
    matrix: tuple[list[str], list[list[float | None]]],
) -> None:
    header, rows = matrix
    results = from_marks_matrix(header, rows)
    assert len(results) == len(header)
    for column, stats in enumerate(results):
        pairs = []
        for row in rows:
            mark = row[column]
            if mark is not None:
                rest = math.fsum(m for j, m in enumerate(row) if j != column and m is not None)
                pairs.append((mark, rest))
        # Exactly equal: both sum the other marks exactly and round once.
        assert stats == item_stats(header[column], pairs)


# --- the command ---------------------------------------------------------------------------------


def trainer_stats(*args: str) -> subprocess.CompletedProcess[str]:
    # trainer/cli/__main__.py runs `app()`, so `-m trainer.cli` runs the real command.
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", "stats", *args],
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def write(tmp_path: Path, text: str, name: str = "marks.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_cli_json_matches_the_hand_values(tmp_path: Path) -> None:
    result = trainer_stats("--marks", str(write(tmp_path, MARKS_CSV)), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [item["question"] for item in document] == HEADER
    for item in document:
        assert set(item) == {
            "question",
            "facility",
            "sd",
            "discrimination_index",
            "discriminative_efficiency",
        }
        _, facility, sd, discrimination, efficiency = EXPECTED[item["question"]]
        assert item["facility"] == pytest.approx(facility, abs=1e-6)
        assert item["sd"] == pytest.approx(sd, abs=1e-6)
        for key, want in (
            ("discrimination_index", discrimination),
            ("discriminative_efficiency", efficiency),
        ):
            if want is None:
                assert item[key] is None
            else:
                assert isinstance(item[key], float)
                assert item[key] == pytest.approx(want, abs=1e-6)


def test_cli_text_table_shows_questions_and_flags(tmp_path: Path) -> None:
    result = trainer_stats("--marks", str(write(tmp_path, MARKS_CSV)))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == set(HEADER)
    assert rows["q1"].split() == ["q1", "4", "62.5", "47.9", "9.1", "11.1", "low_discrimination"]
    assert rows["q2"].split() == ["q2", "5", "100.0", "0.0", "-", "-", "too_easy"]
    assert rows["q3"].split() == ["q3", "5", "15.0", "22.4", "28.0", "33.3", "too_hard"]


def test_cli_thresholds_change_the_flags(tmp_path: Path) -> None:
    path = str(write(tmp_path, MARKS_CSV))
    result = trainer_stats(
        "--marks", path, "--facility-low", "0.1", "--facility-high", "1", "--discrimination-low", "5"
    )
    assert result.returncode == 0, result.stderr
    for flag in ("too_hard", "too_easy", "low_discrimination"):
        assert flag not in result.stdout


def test_cli_threshold_defaults_are_thresholds_defaults() -> None:
    from trainer import cli

    defaults = {name: p.default for name, p in inspect.signature(cli.stats).parameters.items()}
    for field in dataclasses.fields(Thresholds):
        assert defaults[field.name] == field.default


def test_cli_bom_and_chinese_question_ids(tmp_path: Path) -> None:
    text = "\ufeff安全检查,事故报告\r\n1,0\r\n0,1\r\n1,1\r\n"
    result = trainer_stats("--marks", str(write(tmp_path, text)), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [item["question"] for item in document] == ["安全检查", "事故报告"]
    # x = 1, 0, 1 against rest 0, 1, 1: mean 2/3, deviations 1/3, -2/3, 1/3; rest deviations
    # -2/3, 1/3, 1/3; Sxy = -2/9 - 2/9 + 1/9 = -1/3; Sxx = SXX = 6/9, so r = -1/2.
    assert document[0]["facility"] == pytest.approx(2 / 3)
    assert document[0]["discrimination_index"] == pytest.approx(-50.0)
    table = trainer_stats("--marks", str(write(tmp_path, text)))
    assert table.returncode == 0, table.stderr
    assert "安全检查" in table.stdout
    assert "事故报告" in table.stdout


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("q1,q2\n1,0\n0,abc\n", 3, "'abc' is not a number"),
        ("q1,q2\n1,0\n1.5,0\n", 3, "outside 0..1"),
        ("q1,q2\n1,0\n0,1\n1,0,1\n", 4, "3 cell(s)"),
    ],
)
def test_cli_bad_file_exits_2_naming_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    result = trainer_stats("--marks", str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{path}: line {line}: " in result.stderr
    assert words in result.stderr


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = trainer_stats("--marks", str(tmp_path / "absent.csv"))
    assert result.returncode == 2
    assert "absent.csv: no such file" in result.stderr
