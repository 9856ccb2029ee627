"""Tables out to spreadsheets: CSV (UTF-8 with a byte-order mark, so Excel reads Chinese
correctly) and XLSX (XlsxWriter, in constant-memory mode so a province-wide list streams rows
to disk instead of holding them all)."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from urllib.parse import quote

import xlsxwriter
from starlette.responses import Response, StreamingResponse

Cell = str | int | float | datetime | None

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_filename(name: str) -> str:
    """A file name from letters and digits (any script), '-', '_' and '.' only: a unit's name goes
    into it, and a line break there split the Content-Disposition header and dropped the
    connection; quotes, slashes and the like have no place in a downloaded file's name either."""
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return re.sub(r"_{2,}", "_", kept).strip("._") or "export"


def _disposition(filename: str) -> str:
    # RFC 6266: an ASCII fallback plus the UTF-8 name (RFC 5987 encoded) for browsers that read it.
    filename = safe_filename(filename)
    ascii_name = "".join(c if c.isascii() else "_" for c in filename)
    ascii_name = re.sub(r"_{2,}", "_", ascii_name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    return str(value)


# A cell that starts with one of these is a formula to a spreadsheet; so is any part after a list
# separator, in a locale whose separator is ';' (or when a tool splits on ',' or tab itself).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_AFTER_SEPARATOR = re.compile(r"([;,\t]\s*)([=+\-@])")


def _safe(text: str) -> str:
    """Cells a spreadsheet would run as formulas are neutralised with a leading apostrophe, at the
    start and after any separator: names and units come from people, and CSV injection is a real
    attack on whoever opens the file. (Every field is quoted too, see csv_lines.)"""
    text = _AFTER_SEPARATOR.sub(r"\1'\2", text)
    return "'" + text if text[:1] in _FORMULA_START else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[str]:
    """A CSV file line by line: a byte-order mark, the header, then each row with text cells
    made formula-safe (numbers are written as they are). Every CSV the product writes - page
    exports and `trainer reminders --csv` - comes from here."""
    buffer = io.StringIO()
    # Every field quoted: a cell is one cell whatever the reader's list separator.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_safe(_text(v)) if not isinstance(v, int | float) else _text(v) for v in row])
        yield buffer.getvalue()


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Response:
    return StreamingResponse(
        (line.encode() for line in csv_lines(header, rows)),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": _disposition(filename), "Cache-Control": "no-store"},
    )


def xlsx_bytes(sheet: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        output = io.BytesIO()
        book = xlsxwriter.Workbook(
            output,
            {
                "constant_memory": True,
                "tmpdir": scratch,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        bold = book.add_format({"bold": True})
        dates = book.add_format({"num_format": "yyyy-mm-dd"})
        page = book.add_worksheet(sheet[:31])
        page.write_row(0, 0, list(header), bold)
        page.freeze_panes(1, 0)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if isinstance(value, datetime):
                    page.write_datetime(r, c, value.replace(tzinfo=None), dates)
                elif isinstance(value, int | float):
                    page.write_number(r, c, value)
                elif value is not None:
                    page.write_string(r, c, value)
        book.close()
        return output.getvalue()


def xlsx_response(
    filename: str, sheet: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> Response:
    return Response(
        xlsx_bytes(sheet, header, rows),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": _disposition(filename), "Cache-Control": "no-store"},
    )
