"""CLI commands of this group; see DESIGN.md "CLI contract"."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
