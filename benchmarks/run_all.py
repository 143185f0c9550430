"""Run every benchmark in turn (``make bench``); each writes its own section of docs/benchmarks.md."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("benchmarks.ingest", "benchmarks.training", "benchmarks.scale", "benchmarks.accuracy", "benchmarks.serve")


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"=== {name}", flush=True)
        module = importlib.import_module(name)
        if module.main([]) != 0:
            failed.append(name)
    if failed:
        print(f"benchmarks that missed a target or failed: {', '.join(failed)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
