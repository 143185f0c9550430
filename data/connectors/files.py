"""Reading a source file safely: existence, emptiness, UTF-8, CSV rows with their lines.

Whole-file problems raise ``InputFileError`` (nothing gets stored); problems confined
to one row are left for validation, which quarantines the row with its line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from data.errors import InputFileError


def read_text(path: str | Path) -> str:
    """The file's text; refuses missing, empty and non-UTF-8 files, naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), "file not found")
    data = path.read_bytes()
    if not data.strip():
        raise InputFileError(str(path), "file is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputFileError(str(path), f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})",
                             line=line) from None


@dataclass
class CsvRows:
    """Header (stripped) and data rows with their 1-based physical line numbers."""

    header: list[str]
    header_line: int
    rows: list[list[str]]
    lines: list[int]
    raw: list[str]


def split_csv(path: str | Path, text: str, *, header_test=None) -> CsvRows:
    """Parse CSV text; ``header_test(fields)`` finds the header after a preamble (SLDC).

    Blank lines, and rows whose cells are all empty (",,", what spreadsheets export for
    empty rows), are not records and are skipped; every other row is kept with its line.
    """
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    preamble_ok = header_test is not None
    for fields in reader:
        if header is None:
            if not any(f.strip() for f in fields):
                continue
            if preamble_ok and not header_test(fields):
                continue
            header, header_line = [f.strip() for f in fields], reader.line_num
            continue
        if not any(f.strip() for f in fields):
            continue
        rows.append(fields)
        lines.append(reader.line_num)
    if header is None:
        raise InputFileError(str(path), "no header row found")
    if not rows:
        raise InputFileError(str(path), "no data rows after the header", line=header_line)
    return CsvRows(header, header_line, rows, lines, [",".join(r) for r in rows])


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
