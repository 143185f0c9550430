"""Every `efp` command and group answers --help (docs/contracts.md, "CLI contract": "every command has --help")."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from ray_apps.cli import app

CONTRACT_COMMANDS = {
    "cities list", "cities add", "generate", "ingest", "data stats", "data plot", "train", "tune", "backtest",
    "models list", "models show", "models promote", "models rollback", "serve", "forecast",
    "keys create", "keys list", "keys revoke", "demo",
    "forecasts run", "forecasts list", "weather fetch", "monitor", "alerts list",
}


def _walk(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(command, "commands"):  # a group (typer may bring its own click)
        for name, sub in command.commands.items():
            found += _walk(sub, path + (name,))
    return found


def test_every_command_answers_help_and_the_contract_is_complete():
    root = typer.main.get_command(app)
    paths = _walk(root)
    names = {" ".join(p) for p in paths}
    assert CONTRACT_COMMANDS <= names, CONTRACT_COMMANDS - names
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output, path
