"""Monitor job: ``python -m ray_apps.monitor [--cities DEL,MUM] [--json]``.

The same command as ``efp monitor``; also runs through ``ray job submit --working-dir .``
(it needs no Ray of its own: the work is a few store reads per city).
"""

from __future__ import annotations

import typer

from ray_apps.cli.monitoring_commands import monitor


def main() -> None:
    typer.run(monitor)


if __name__ == "__main__":
    main()
