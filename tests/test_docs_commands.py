"""Every ``efp ...`` command line quoted in docs/*.md and the README exists: each is run with
``--help`` appended through typer's CliRunner on the real app (in-process, no subprocess per
line), and an unknown command or option (typer's exit 2, "No such command" / "No such
option") fails the test with the file and line that quote it.

Quoted means: a line of a fenced code block that starts with ``efp`` (``$ `` prompts and
``\\`` continuations understood), or an inline code span that starts with ``efp``. The
command ends at a shell operator (``|``, ``>``, ``&&``, ``;``) or a ``#`` comment; an
ellipsis (``efp ...``) stands for "any command" and ends it too. Commands that do not exist
on this branch must not be quoted as if they did: planned ones are named in prose."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ray_apps.cli import app

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted((REPO_ROOT / "docs").glob("*.md")) + [REPO_ROOT / "README.md"]
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"(?<!`)`(efp(?:\s[^`]*)?)`(?!`)")
STOP = {"|", "||", ">", ">>", "<", "&&", ";", "&", "...", "…"}


def variants(command: str) -> list[list[str]]:
    """``efp models list|show V`` quotes two commands: one token list per alternative of
    the first word that lists them with ``|``."""
    args = _tokens(command)
    for index, word in enumerate(args):
        if "|" in word.strip("|"):
            return [[*args[:index], choice, *args[index + 1:]] for choice in word.split("|") if choice]
    return [args]


def _tokens(command: str) -> list[str]:
    """The arguments after ``efp`` up to the first shell operator, comment or ellipsis;
    ``[--city CODE]`` brackets of optional parts are dropped, the options kept."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote in prose: take the words as they are
        words = command.split()
    args: list[str] = []
    for word in words[1:]:
        word = word.strip("[]") if not word.startswith("[]") else word
        if word in STOP or word.startswith(("|", ">", "...")) or "…" in word:
            break
        args.append(word)
    return args


def quoted_commands(path: Path) -> list[tuple[int, str]]:
    """(line number, command text) of every ``efp`` command line quoted in ``path``."""
    found: list[tuple[int, str]] = []
    in_block, pending, pending_line = False, "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_block, pending = not in_block, ""
            continue
        if in_block:
            text = line.strip()
            if pending:
                text, number = pending + " " + text, pending_line
            elif text.startswith("$ "):
                text = text[2:].lstrip()
            if not (text == "efp" or text.startswith("efp ")):
                continue
            if text.endswith("\\"):
                pending, pending_line = text[:-1].rstrip(), number
                continue
            pending = ""
            found.append((number, text))
        else:
            found.extend((number, match.group(1)) for match in INLINE.finditer(line))
    return found


def with_values(args: list[str]) -> list[str]:
    """``args`` where every value-taking option quoted without its value gets a stand-in
    ``X``, so the appended ``--help`` is read as help, never as that option's value (which
    would run the command: ``efp train --cities --help`` trains a city called ``--help``)."""
    command = typer.main.get_command(app)  # duck-typed: typer may bring its own click
    rest = list(args)
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    prefix = args[: len(args) - len(rest)]
    takes_value = {opt for param in command.params if getattr(param, "param_type_name", "") == "option"
                   and not param.is_flag for opt in param.opts}
    fixed: list[str] = []
    for index, word in enumerate(rest):
        fixed.append(word)
        following = rest[index + 1] if index + 1 < len(rest) else None
        if word in takes_value and (following is None or re.match(r"-[^\d.]", following)):
            fixed.append("X")
    return [*prefix, *fixed]


@pytest.fixture(autouse=True)
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quoted line must only ever print help: starting Ray here is a bug of this test."""
    import ray

    def refuse(*args, **kwargs):
        raise RuntimeError("tests/test_docs_commands.py ran a command instead of its --help")

    monkeypatch.setattr(ray, "init", refuse)


ALL = [(path.relative_to(REPO_ROOT).as_posix(), number, text) for path in DOCUMENTS for number, text in quoted_commands(path)]


def test_the_docs_quote_commands_at_all() -> None:
    """The extraction works: the README's command block alone quotes a dozen."""
    assert sum(1 for where, _, _ in ALL if where == "README.md") >= 12
    assert len({where for where, _, _ in ALL}) >= 5


@pytest.mark.parametrize("where,number,text", ALL, ids=[f"{w}:{n}" for w, n, _ in ALL])
def test_quoted_command_exists(where: str, number: int, text: str) -> None:
    for args in variants(text):
        args = with_values(args)
        result = CliRunner().invoke(app, [*args, "--help"])
        output = result.output
        assert "No such command" not in output and "No such option" not in output and result.exit_code == 0, (
            f"{where}:{number} quotes `{text}` (run as efp {' '.join(args)} --help), which this branch's efp "
            f"refuses (exit {result.exit_code}):\n{output}"
        )


def test_an_unknown_command_or_option_is_caught() -> None:
    """The check can fail: typer answers these with exit 2."""
    for text in ("efp frobnicate", "efp train --no-such-flag", "efp models frobnicate V"):
        result = CliRunner().invoke(app, [*_tokens(text), "--help"])
        assert result.exit_code == 2 and ("No such command" in result.output or "No such option" in result.output)


def test_extraction_understands_blocks_prompts_continuations_and_inline(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("Run `efp data stats --city DEL` or `pip install x`.\n\n```bash\n$ efp train --cities DEL \\\n"
                   "    --local   # comment\nls\nefp models list --json | jq .\n```\n", encoding="utf-8")
    commands = quoted_commands(doc)
    assert [n for n, _ in commands] == [1, 4, 7]
    assert with_values(["train", "--cities", "--local"]) == ["train", "--cities", "X", "--local"]
    assert with_values(["train", "--config"]) == ["train", "--config", "X"]
    assert variants("efp models list|show V") == [["models", "list", "V"], ["models", "show", "V"]]
    assert _tokens("efp data stats [--city CODE] [--json]") == ["data", "stats", "--city", "CODE", "--json"]
    assert [_tokens(t) for _, t in commands] == [["data", "stats", "--city", "DEL"], ["train", "--cities", "DEL", "--local"],
                                                 ["models", "list", "--json"]]
