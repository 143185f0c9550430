"""User-facing errors. Each carries a one-line message naming what is wrong and where.

The CLI turns any ``PlatformError`` into that line on stderr and a non-zero exit; the HTTP
API turns it into a 4xx. Anything else escaping is a bug.
"""

from __future__ import annotations

from pydantic import ValidationError


class PlatformError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code: int = 1


class InputFileError(PlatformError):
    """A file to import is unreadable or malformed; nothing was stored."""

    exit_code = 2

    def __init__(self, path: str, problem: str, *, line: int | None = None, column: str | None = None) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.column, self.problem = str(path), line, column, problem


class NotFoundError(PlatformError):
    """A named thing (city, model version, key) does not exist."""

    exit_code = 3


class ConflictError(PlatformError):
    """The request contradicts stored state (e.g. promoting a worse model without --force)."""

    exit_code = 4


def describe_validation_error(
    error: ValidationError, *, noun: str = "field", default: str = "value", show_input: bool = False
) -> str:
    """``noun 'dotted.key': problem`` for the first problem pydantic found.

    Every config/file loader reports a bad value the same way, so users learn one shape of
    message; callers put their own prefix (file, line, source) in front. An extra key reads
    ``unknown <noun>`` (pydantic's wording does not say which key is the stray one).
    """
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or default
    if first["type"] == "extra_forbidden":
        return f"{noun} '{location}': unknown {noun}"
    problem = first["msg"]
    if show_input:
        problem += f" (got {first.get('input')!r})"
    return f"{noun} '{location}': {problem}"
