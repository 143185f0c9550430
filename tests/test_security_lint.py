"""bandit over the platform's code on every `make test`: a new finding fails the suite until it is
fixed or justified inline (`# nosec BXXX: reason`); the configuration is `[tool.bandit]` in pyproject.toml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("data", "training", "serving", "ray_apps")


def _bandit(*targets: str) -> dict:
    run = subprocess.run([sys.executable, "-m", "bandit", "-c", str(REPO / "pyproject.toml"), "-r", *targets,
                          "-f", "json", "-q"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.stdout, run.stderr
    return json.loads(run.stdout)


def test_bandit_finds_nothing_unjustified_in_the_platform_code() -> None:
    report = _bandit(*PACKAGES)
    assert not report["errors"], report["errors"]
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report["results"]]
    assert not findings, "bandit findings (fix them, or justify with `# nosec BXXX: reason`):\n" + "\n".join(findings)
    assert report["metrics"]["_totals"]["loc"] > 5000  # it did read the packages


def test_bandit_would_catch_a_new_finding(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n")
    report = _bandit(str(bad))
    assert "B602" in {r["test_id"] for r in report["results"]}
