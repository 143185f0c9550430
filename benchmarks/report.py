"""Write one benchmark's results into its own section of ``docs/benchmarks.md``.

Each benchmark owns the text between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->``,
so benchmarks run separately never overwrite each other's figures, and every section
states the machine it ran on.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Figures written by `make bench` (or `python -m benchmarks.<name>`). Each section names the
machine it ran on; targets are the issue's, measured here, never asserted in tests.
"""


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        memory = f"{mem_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        memory = "unknown RAM"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} cores ({cpu}), {memory}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_section(name: str, title: str, body: str, report: Path = REPORT) -> Path:
    """Replace (or append) the section ``name`` with ``body`` under a heading and a machine line."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- begin:{name} -->\n## {title}\n\n"
        f"Machine: {machine_description()}. Run {stamp}, commit {git_commit()}.\n\n{body.strip()}\n<!-- end:{name} -->"
    )
    text = report.read_text(encoding="utf-8") if report.exists() else HEADER
    pattern = re.compile(rf"<!-- begin:{re.escape(name)} -->.*?<!-- end:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text, encoding="utf-8")
    return report


def markdown_table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)
