"""Encode an Arrow table as PostgreSQL's binary COPY format with numpy, not per-row Python.

Text CSV was the bottleneck of bulk loads (formatting a million timestamps and floats
took about 2 s on this machine, longer than PostgreSQL needed to store them); the
binary format is fixed-width for every type the stores use, so a whole column is
written with one vectorised assignment. Layout per row: int16 field count, then per
field an int32 byte length (-1 for NULL) followed by the value in network byte order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = b"\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
_PG_EPOCH_DAYS = 10_957  # 2000-01-01 in Unix days


_MINUS_INFINITY = np.iinfo(np.int64).min  # PostgreSQL's '-infinity' timestamp


def _fixed_bytes(column: pa.Array, null_is_minus_infinity: bool = False) -> tuple[np.ndarray, int]:
    """A column's values as an (n, width) big-endian byte matrix, and the width."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        values = column.cast(pa.timestamp("us", tz=kind.tz)).to_numpy(zero_copy_only=False)
        raw = values.astype("datetime64[us]").view("int64") - _PG_EPOCH_US
        if null_is_minus_infinity:
            raw = np.where(np.isnat(values), _MINUS_INFINITY, raw)
        return raw.astype(">i8").view(np.uint8).reshape(-1, 8), 8
    if pa.types.is_date32(kind):
        days = column.cast(pa.int32()).to_numpy(zero_copy_only=False).astype("int64") - _PG_EPOCH_DAYS
        return days.astype(">i4").view(np.uint8).reshape(-1, 4), 4
    if pa.types.is_floating(kind):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return values.astype(">f8").view(np.uint8).reshape(-1, 8), 8
    if pa.types.is_boolean(kind):
        values = column.fill_null(False).to_numpy(zero_copy_only=False)
        return values.astype(np.uint8).reshape(-1, 1), 1
    raise TypeError(f"no binary COPY encoding for {kind}")


MAX_RUNS = 2_000  # beyond this many layout changes (scattered NULLs) scatter-writing is faster


CHUNK_ROWS = 131_072


def encode_chunks(table: pa.Table, *, minus_infinity_for_null: tuple[str, ...] = ()):
    """The payload in pieces of ``CHUNK_ROWS`` rows, so that encoding overlaps the server's work."""
    yield HEADER
    for offset in range(0, table.num_rows, CHUNK_ROWS):
        body = encode(table.slice(offset, CHUNK_ROWS), minus_infinity_for_null=minus_infinity_for_null)
        yield body[len(HEADER) : -len(TRAILER)]
    yield TRAILER


def encode(table: pa.Table, *, minus_infinity_for_null: tuple[str, ...] = ()) -> bytes:
    """The whole COPY payload (header, rows, trailer) for ``table``'s columns in order.

    Timestamp columns named in ``minus_infinity_for_null`` send NULL as '-infinity', for
    key columns that must be NOT NULL (an observed reading's ``issued_at``). Rows come in
    runs of one layout (same NULLs, same text lengths: one city after another); each run
    is filled as a numpy structured array, field by field.
    """
    n = table.num_rows
    columns = [table.column(i).combine_chunks() for i in range(table.num_columns)]
    sentinel = [name in minus_infinity_for_null for name in table.column_names]
    valid = [
        np.ones(n, dtype=bool) if sentinel[i] else ~np.asarray(c.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        for i, c in enumerate(columns)
    ]
    values: list[np.ndarray] = []  # (n, width) bytes per fixed column; codes per text column
    words: list[list[bytes] | None] = []
    declared = np.zeros((n, len(columns)), dtype=np.int64)
    for index, column in enumerate(columns):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            encoded = column.dictionary_encode()
            codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            vocabulary = [value.encode("utf-8") for value in encoded.dictionary.to_pylist()]
            sizes = np.array([len(word) for word in vocabulary], dtype=np.int64)
            declared[:, index] = np.where(valid[index], sizes[codes] if n else 0, -1)
            values.append(codes)
            words.append(vocabulary)
        else:
            matrix, width = _fixed_bytes(column, sentinel[index])
            declared[:, index] = np.where(valid[index], width, -1)
            values.append(matrix)
            words.append(None)
    if n == 0:
        return HEADER + TRAILER
    changes = np.flatnonzero((declared[1:] != declared[:-1]).any(axis=1)) + 1
    if changes.size > MAX_RUNS:
        return HEADER + _scatter(declared, values, words) + TRAILER
    bounds = [0, *changes.tolist(), n]
    parts = [_run(declared, values, words, low, high) for low, high in zip(bounds[:-1], bounds[1:])]
    return HEADER + b"".join(parts) + TRAILER


def _run(declared: np.ndarray, values: list[np.ndarray], words: list[list[bytes] | None], low: int, high: int) -> bytes:
    """Rows ``low:high``, which share one layout, as a structured array."""
    layout = declared[low]
    fields: list[tuple] = [("count", ">i2")]
    for index, size in enumerate(layout):
        fields.append((f"l{index}", ">i4"))
        if size > 0:
            fields.append((f"v{index}", "u1", (int(size),)))
    rows = np.empty(high - low, dtype=np.dtype(fields))
    rows["count"] = len(layout)
    for index, size in enumerate(layout):
        rows[f"l{index}"] = size
        if size <= 0:
            continue
        if words[index] is None:
            rows[f"v{index}"] = values[index][low:high]
        else:
            codes = values[index][low:high]
            table = np.zeros((len(words[index]), int(size)), dtype=np.uint8)
            for code, word in enumerate(words[index]):
                if len(word) == size:
                    table[code] = np.frombuffer(word, dtype=np.uint8)
            rows[f"v{index}"] = table[codes]
    return rows.tobytes()


def _scatter(declared: np.ndarray, values: list[np.ndarray], words: list[list[bytes] | None]) -> bytes:
    """Any layout per row: each field written at its computed offset (slower, always right)."""
    n, width = declared.shape
    lengths = np.maximum(declared, 0)
    row_sizes = 2 + 4 * width + lengths.sum(axis=1)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(row_sizes[:-1], out=starts[1:])
    buffer = np.zeros(int(row_sizes.sum()), dtype=np.uint8)
    _put(buffer, starts, np.full(n, width, dtype=">i2").view(np.uint8).reshape(-1, 2))
    cursor = starts + 2
    for index in range(width):
        _put(buffer, cursor, declared[:, index].astype(">i4").view(np.uint8).reshape(-1, 4))
        cursor = cursor + 4
        present = declared[:, index] > 0
        if words[index] is None:
            rows = np.flatnonzero(present)
            if rows.size:
                _put(buffer, cursor[rows], values[index][rows])
        else:
            for code, word in enumerate(words[index]):
                rows = np.flatnonzero((values[index] == code) & present)
                if rows.size and word:
                    _put(buffer, cursor[rows], np.broadcast_to(np.frombuffer(word, dtype=np.uint8), (rows.size, len(word))))
        cursor = cursor + lengths[:, index]
    return buffer.tobytes()


def _put(buffer: np.ndarray, offsets: np.ndarray, matrix: np.ndarray) -> None:
    """Write row ``i`` of ``matrix`` at ``buffer[offsets[i]:]`` for every row at once."""
    width = matrix.shape[1]
    buffer[offsets[:, None] + np.arange(width)] = matrix
