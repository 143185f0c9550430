"""``python -m ray_apps.serve [--port N]``: the forecast service until Ctrl-C (same as ``efp serve``)."""

from __future__ import annotations

import argparse
import sys

from data.settings import get_settings
from ray_apps.serve_runner import run_service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ray_apps.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: settings serve.port)")
    args = parser.parse_args(argv)
    return run_service(get_settings(), port=args.port)


if __name__ == "__main__":
    sys.exit(main())
