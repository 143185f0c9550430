"""How every command reports: a rich table for people, JSON with ``--json``, one-line errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from data.errors import PlatformError

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")

F = TypeVar("F", bound=Callable[..., Any])


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(payload: Any) -> None:
    """JSON on stdout and nothing else, so ``efp ... --json | jq`` always works."""
    sys.stdout.write(json.dumps(payload, default=_default, indent=2) + "\n")
    sys.stdout.flush()


def print_table(title: str, rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None) -> None:
    columns = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if rows and isinstance(rows[0].get(column), (int, float)) else "left")
    for row in rows:
        table.add_row(*[_cell(row.get(column)) for column in columns])
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def reports_errors(func: F) -> F:
    """Turn a PlatformError into its one-line message and exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PlatformError as error:
            fail(str(error), error.exit_code)

    return wrapper  # type: ignore[return-value]
