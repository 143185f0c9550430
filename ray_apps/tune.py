"""Tune job: ``python -m ray_apps.tune --model M --samples N [--cities ...] [--json]``.

The same command as ``efp tune``; also runs through ``ray job submit --working-dir .``.
"""

from __future__ import annotations

import typer

from ray_apps.cli.model_commands import tune


def main() -> None:
    typer.run(tune)


if __name__ == "__main__":
    main()
