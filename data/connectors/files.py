"""Reading a source file safely: existence, emptiness, UTF-8, CSV rows with their lines,
whole (small reports) or streamed in chunks (``stream_csv``: large imports).

Whole-file problems raise ``InputFileError`` (nothing gets stored); problems confined
to one row are left for validation, which quarantines the row with its line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from data.errors import InputFileError


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InputFileError(str(path), "file not found")


def _not_utf8(path: Path, data: bytes, error: UnicodeDecodeError, *, offset: int, line: int) -> InputFileError:
    return InputFileError(str(path), f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {offset + error.start})",
                          line=line)


def read_text(path: str | Path) -> str:
    """The file's text; refuses missing, empty and non-UTF-8 files, naming the line."""
    path = Path(path)
    _require_file(path)
    data = path.read_bytes()
    if not data.strip():
        raise InputFileError(str(path), "file is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _not_utf8(path, data, error, offset=0, line=data[: error.start].count(b"\n") + 1) from None


def text_lines(path: str | Path) -> Iterator[str]:
    """The file's lines (with their endings) decoded one at a time, refused like ``read_text``:
    a large file is never held whole. A UTF-8 character never contains the newline byte, so
    splitting the bytes first is safe."""
    path = Path(path)
    _require_file(path)
    offset, content = 0, False
    with open(path, "rb") as handle:
        for number, data in enumerate(handle, start=1):
            try:
                text = data.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise _not_utf8(path, data, error, offset=offset, line=number) from None
            content = content or bool(text.strip())
            offset += len(data)
            yield text
    if not content:
        raise InputFileError(str(path), "file is empty")


@dataclass
class CsvRows:
    """Header (stripped) and data rows with their 1-based physical line numbers."""

    header: list[str]
    header_line: int
    rows: list[list[str]]
    lines: list[int]
    raw: list[str]


@dataclass
class CsvStream:
    """A CSV file's header, and its data rows in chunks (``CsvRows`` of at most ``chunk_rows``)."""

    header: list[str]
    header_line: int
    chunks: Iterator[CsvRows]


def _records(path: str | Path, lines: Iterable[str], header_test: Callable[[list[str]], bool] | None
             ) -> Iterator[tuple[list[str], int]]:
    """(fields, line) of the header first, then of each data row.

    Blank lines, and rows whose cells are all empty (",,", what spreadsheets export for
    empty rows), are not records and are skipped. A field over the csv module's size limit
    (128 KiB) is a whole-file error naming its line: no sane load file has one."""
    reader = csv.reader(lines)
    found_header = False
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if not found_header:
                if header_test is not None and not header_test(fields):
                    continue
                found_header = True
            yield fields, reader.line_num
    except csv.Error as error:
        limit = csv.field_size_limit()
        problem = (f"a field is longer than {limit:,} characters (the CSV field size limit)"
                   if "field limit" in str(error) else f"not a readable CSV ({error})")
        raise InputFileError(str(path), problem, line=reader.line_num) from None


def _stream(path: str | Path, lines: Iterable[str], chunk_rows: int | None,
            header_test: Callable[[list[str]], bool] | None) -> CsvStream:
    records = _records(path, lines, header_test)
    first = next(records, None)
    if first is None:
        raise InputFileError(str(path), "no header row found")
    header, header_line = [f.strip() for f in first[0]], first[1]

    def chunks() -> Iterator[CsvRows]:
        any_rows = False
        while group := list(islice(records, chunk_rows)):
            any_rows = True
            rows = [fields for fields, _ in group]
            yield CsvRows(header, header_line, rows, [line for _, line in group], [",".join(r) for r in rows])
        if not any_rows:
            raise InputFileError(str(path), "no data rows after the header", line=header_line)

    return CsvStream(header, header_line, chunks())


def stream_csv(path: str | Path, chunk_rows: int) -> CsvStream:
    """Open a CSV file and read its header; the data rows are read, ``chunk_rows`` at a
    time, as ``chunks`` is iterated, so only one chunk of text and cells is held at once."""
    return _stream(path, text_lines(path), chunk_rows, None)


def split_csv(path: str | Path, text: str, *, header_test: Callable[[list[str]], bool] | None = None) -> CsvRows:
    """Parse CSV text whole (small daily reports); ``header_test(fields)`` finds the header after a preamble (SLDC)."""
    (rows,) = _stream(path, io.StringIO(text), None, header_test).chunks
    return rows


def normalise(name: str) -> str:
    """Column and state names compared case-, space- and punctuation-insensitively."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower().replace("&", " and ")).strip("_")


DATE_IN_TEXT = re.compile(r"(\d{4})-(\d{2})-(\d{2})|(\d{2})[-/.](\d{2})[-/.](\d{4})")


def date_in_text(text: str) -> str | None:
    """An ISO date found in a file name or preamble line (YYYY-MM-DD or DD-MM-YYYY)."""
    match = DATE_IN_TEXT.search(text)
    if not match:
        return None
    if match.group(1):
        return f"{match.group(1)}-{match.group(2)}-{match.group(3)}"
    return f"{match.group(6)}-{match.group(5)}-{match.group(4)}"
