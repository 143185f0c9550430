"""User-facing errors. Each carries a one-line message naming what is wrong and where.

The CLI turns any ``PlatformError`` into that line on stderr and a non-zero exit; the HTTP
API turns it into a 4xx (a 503 for ``ServiceUnavailableError``), choosing the status by the
error's class. Anything else escaping is a bug.
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


class InvalidFieldError(PlatformError):
    """A value the caller gave is well-formed but not acceptable here (a horizon this model
    cannot reach, a start off the block grid).

    ``field`` is the dotted path of that value in the request (``weather.3.ts``), so the HTTP
    API can name it by reading an attribute instead of guessing from the message. Both go
    into ``args``, so the error survives pickling across a Ray task with its field intact.
    """

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field, self.message = field, message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ServiceUnavailableError(PlatformError):
    """Nothing the caller can fix: no backend could answer (HTTP 503).

    A ``PlatformError`` still, so the CLI reports it as one line rather than a traceback.
    """


class BackendUnavailableError(ServiceUnavailableError):
    """One of our own backends (database, object store, key store) did not answer (HTTP 503).

    The message is generic on purpose ("<what> unavailable; try again shortly"): a caller
    learns neither host names, bucket names nor the backend's error text; the real error is
    logged where it happened.
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} unavailable; try again shortly")
        self.what = what


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
