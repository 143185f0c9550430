"""The repository stands on its own: no tracked file cites a document outside it.

The contracts the code follows live in ``docs/contracts.md``; a docstring, test or page that
pointed at a design note kept beside the checkout would send a reader of a fresh clone to a
file they do not have. The patterns are assembled from pieces so that this file does not
match them itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = REPO_ROOT / "docs" / "contracts.md"
OUTSIDE_DOCUMENT = re.compile("|".join([re.escape("DESIGN" + ".md"), re.escape(".." + "/shared"), re.escape("/work" + "/shared")]))
#: The sections other files cite by name ("docs/contracts.md, "CLI contract"").
CONTRACT_SECTIONS = (
    "Data contract",
    "CLI contract",
    "HTTP contract",
    "Metrics everyone reports",
    "Benchmarks' machine-readable output",
)


def _tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True
        ).stdout.decode("utf-8")
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout ({error})")
    return [REPO_ROOT / name for name in listed.split("\0") if name]


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary file (NUL byte or not UTF-8) or a missing one."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None  # deleted in the work tree, or a submodule
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def outside_references(files: list[Path], root: Path = REPO_ROOT) -> list[str]:
    """``path:line: text`` (path relative to ``root``) for every line that cites a document
    outside the repository."""
    found = []
    for path in files:
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE_DOCUMENT.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_tracked_file_refers_outside_the_repository() -> None:
    found = outside_references(_tracked_files())
    assert not found, "cite docs/contracts.md instead of a document outside the repository:\n" + "\n".join(found)


def test_the_check_sees_a_reference_and_skips_binary_files(tmp_path: Path) -> None:
    cited = tmp_path / "cited.py"
    cited.write_text('"""See ' + "DESIGN" + '.md."""\n', encoding="utf-8")
    relative = tmp_path / "relative.md"
    relative.write_text("ok\nsee " + ".." + "/shared/notes\n", encoding="utf-8")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\0" + ("DESIGN" + ".md").encode())
    clean = tmp_path / "clean.md"
    clean.write_text("see docs/contracts.md\n", encoding="utf-8")
    found = [line.split(":", 2)[:2] for line in outside_references([cited, relative, binary, clean], root=tmp_path)]
    assert found == [["cited.py", "1"], ["relative.md", "2"]]


def test_cited_contract_sections_exist() -> None:
    """Every section name that a tracked file cites next to docs/contracts.md is a heading there."""
    headings = {line[3:].strip() for line in CONTRACTS.read_text(encoding="utf-8").splitlines() if line.startswith("## ")}
    assert set(CONTRACT_SECTIONS) <= headings
    cited = re.compile(r"contracts\.md(?:\]\([^)]*\))?,? \"([^\"]+)\"")
    missing = []
    for path in _tracked_files():
        text = _text(path)
        if text is None:
            continue
        for name in cited.findall(text):
            if name not in headings:
                missing.append(f"{path.relative_to(REPO_ROOT)}: {name!r}")
    assert not missing, "citations of sections docs/contracts.md does not have:\n" + "\n".join(missing)
