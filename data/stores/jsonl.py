"""JSON-lines files that survive a crash mid-append (``runs.jsonl``, ``alerts.jsonl``).

An append is one ``os.write`` of the whole line on an ``O_APPEND`` descriptor, then
``fsync``: a crash can still cut that write short, leaving the start of a record without
its newline. Readers skip such a trailing fragment (logged once per file and offset, since
every later read sees it until the next append), and the next append, made under the
caller's lock, truncates it first so that it is never glued to the record that follows.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("data.stores.metadata")
#: (file, offset) of partial last lines already reported by this process.
_reported: set[tuple[str, int]] = set()
_TAIL_BLOCK = 65_536


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every whole record of the file, in order; a partial last line is left out."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    tail = lines.pop()  # "" when the file ends with a newline
    if tail.strip():
        offset = len(text.encode("utf-8")) - len(tail.encode("utf-8"))
        if (str(path), offset) not in _reported:
            _reported.add((str(path), offset))
            log.warning("%s: skipped a partial last line at byte %d (an append in progress, or one a crash cut short)",
                        path, offset)
    return [json.loads(line) for line in lines if line.strip()]


def _whole_length(fd: int) -> int:
    """Bytes up to and including the last newline (the whole records) of an open file."""
    end = os.fstat(fd).st_size
    position = end
    while position > 0:
        start = max(0, position - _TAIL_BLOCK)
        block = os.pread(fd, position - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line; call under the lock of the file's folder."""
    data = (json.dumps(record, default=str) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        whole = _whole_length(fd)
        if whole < os.fstat(fd).st_size:
            log.warning("%s: dropped a partial last line at byte %d that a crash cut short", path, whole)
            os.ftruncate(fd, whole)
        written = os.write(fd, data)
        while written < len(data):  # a short write to a regular file is rare; finish the line
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
