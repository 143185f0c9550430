"""Per-record verdicts: accepted, repaired (with the repairs' names) or rejected (with why).

The first rejection of a record wins and later checks skip it, so a quarantined row
names the most basic thing wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

ACCEPTED, REPAIRED, REJECTED = 0, 1, 2
_CODE = re.compile(r"^[a-z][a-z _.]*")


def reason_code(message: str) -> str:
    """A stable key for counting rejections: the message's leading words, snake_case."""
    match = _CODE.match(str(message).lower())
    return (match.group(0).strip().replace(" ", "_").replace(".", "_") if match else "invalid") or "invalid"


class Verdicts:
    def __init__(self, n: int) -> None:
        self.status = np.zeros(n, dtype=np.int8)
        self.message = np.full(n, None, dtype=object)
        self.field = np.full(n, None, dtype=object)
        self.code = np.full(n, None, dtype=object)
        self.repairs: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.status)

    @property
    def pending(self) -> np.ndarray:
        """Records not rejected so far."""
        return self.status != REJECTED

    def reject(self, mask: np.ndarray, code: str | None, message: str | Callable[[np.ndarray], list[str]] | np.ndarray,
               field: str | np.ndarray) -> None:
        """Reject ``mask`` (where not already rejected); ``message`` may be built per index."""
        mask = np.asarray(mask, dtype=bool) & self.pending
        if not mask.any():
            return
        index = np.flatnonzero(mask)
        if callable(message):
            texts = np.asarray(message(index), dtype=object)
        elif isinstance(message, np.ndarray):
            texts = message[index]
        else:
            texts = np.full(len(index), message, dtype=object)
        self.status[index] = REJECTED
        self.message[index] = texts
        self.code[index] = [reason_code(t) for t in texts] if code is None else code
        self.field[index] = field[index] if isinstance(field, np.ndarray) else field
        for flags in self.repairs.values():
            flags[index] = False

    def repair(self, mask: np.ndarray, name: str) -> None:
        mask = np.asarray(mask, dtype=bool) & self.pending
        if not mask.any():
            return
        self.status[mask] = REPAIRED
        flags = self.repairs.setdefault(name, np.zeros(len(self.status), dtype=bool))
        flags |= mask
