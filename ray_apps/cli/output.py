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
from rich import box
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


def make_table(title: str | None = None, *, caption: str | None = None) -> Table:
    """The one table style of the CLI and the demo: a rule under the headings and no
    vertical borders and one space between columns, so a dozen short columns fit an 80-column terminal. Columns are
    added with ``add_column`` below, which never cuts a heading."""
    return Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0))


def add_column(table: Table, heading: str, *, numeric: bool = False, min_width: int = 0) -> None:
    """A column whose heading is never shortened to ``fir…``: at least as wide as its
    heading (and ``min_width``), cells folded (not cut) when the terminal really is too narrow."""
    table.add_column(heading, justify="right" if numeric else "left", min_width=max(len(heading), min_width),
                     overflow="fold")


def print_table(title: str, rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None) -> None:
    console.print(render_table(title, rows, columns))


def render_table(title: str, rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None) -> Table:
    columns = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    table = make_table(title)
    for column in columns:
        add_column(table, column, numeric=bool(rows) and isinstance(rows[0].get(column), (int, float)))
    for row in rows:
        table.add_row(*[_cell(row.get(column)) for column in columns])
    return table


#: Headings of the data-quality table (data/stats.py ``COLUMNS``), short enough that all
#: eleven fit 80 columns; the caption says what the short ones mean.
QUALITY_HEADINGS = {
    "city": "city", "rows": "rows", "first": "first", "last": "last", "resolution_min": "min",
    "imputed_pct": "imp%", "shedding_pct": "shed%", "outlier_pct": "outl%", "gaps": "gaps",
    "missing_blocks": "missing", "quarantined": "quar",
}
QUALITY_CAPTION = ("first/last: UTC dates; min: minutes per block; imp/shed/outl%: share of blocks imputed, "
                   "under load shedding, flagged outliers; missing: blocks in gaps; quar: quarantined rows")


def quality_view(rows: Sequence[Mapping[str, Any]], title: str = "Data quality per city") -> Table:
    """The data-quality rows of ``data.stats.quality_table`` as a table that fits 80 columns."""
    table = make_table(title, caption=QUALITY_CAPTION)
    for key, heading in QUALITY_HEADINGS.items():
        add_column(table, heading, numeric=key not in ("city", "first", "last"), min_width=10 if key in ("first", "last") else 0)
    for row in rows:
        table.add_row(*[_quality_cell(key, row.get(key)) for key in QUALITY_HEADINGS])
    return table


def _quality_cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("first", "last"):
        return str(value)[:10]
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"
    return str(value)


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
