"""Backtest job: ``python -m ray_apps.backtest --city C --start D --end D [--version V] [--json] [--plot F]``.

The same command as ``efp backtest``; also runs through ``ray job submit --working-dir .``.
"""

from __future__ import annotations

import typer

from ray_apps.cli.model_commands import backtest


def main() -> None:
    typer.run(backtest)


if __name__ == "__main__":
    main()
