"""Where the platform's files are, and the one way its YAML configuration is read.

The shipped ``configs/`` folder has to be found both from a source checkout (including
``pip install -e`` and ``ray job submit --working-dir .``) and from an installed wheel,
where it is package data; before this module each loader built its own path from the
repository root, which a wheel install does not have. A site keeps its own copies in the
folder named by ``EFP_CONFIG_DIR``: files missing there come from the shipped folder, so
a site copies only what it changes and the rest stays in step with the installed code.

Every loader reports a problem in one shape, ``<file>[, line N]: <problem>``, so a user
learns one form of message and always sees which file, and where possible which line,
to fix.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from data.errors import PlatformError, describe_validation_error

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Environment variable naming the site's configs folder (read before settings exist).
CONFIG_DIR_ENV = "EFP_CONFIG_DIR"
#: The package that carries the shipped YAML files in a wheel.
CONFIG_PACKAGE = "configs"

Model = TypeVar("Model", bound=BaseModel)


class ConfigFileError(PlatformError):
    """A configuration file (or value) is missing or malformed; the message names where."""

    exit_code = 2

    def __init__(self, source: str | Path, problem: str, *, line: int | None = None) -> None:
        where = f"{source}, line {line}" if line is not None else str(source)
        super().__init__(f"{where}: {problem}")
        self.source, self.line, self.problem = str(source), line, problem


def source_checkout() -> Path | None:
    """The repository this code runs from, or None when it runs from an installed wheel.

    A wheel's site-packages has no pyproject.toml; a checkout, an editable install, a
    cluster image built from the repository and a Ray job's working dir all do.
    """
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else None


def shipped_config_dir() -> Path:
    """The configs folder that came with this code.

    A checkout reads its own folder directly, so an editable install made before
    ``configs`` became a package still finds the files; a wheel reads its package data.
    """
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "configs"
    try:
        return Path(str(resources.files(CONFIG_PACKAGE)))
    except ModuleNotFoundError:
        raise ConfigFileError(CONFIG_PACKAGE, "the shipped configs package is not installed; reinstall the platform") from None


def config_path(name: str) -> Path:
    """The config file ``name`` (``"training.yaml"``, ``"tune/lstm.yaml"``): the site's copy, else the shipped one."""
    site = os.environ.get(CONFIG_DIR_ENV)
    if site:
        folder = Path(site).expanduser()
        if not folder.is_dir():
            # A misspelt folder would otherwise fall back to the shipped files without a word.
            raise ConfigFileError(folder, f"{CONFIG_DIR_ENV} names no folder")
        if (folder / name).is_file():
            return folder / name
    return shipped_config_dir() / name


def resolve_data_path(path: Path) -> Path:
    """``path`` made absolute: relative to the checkout when running from one, else to the working directory.

    In a checkout a local run and ``ray job submit --working-dir .`` then share ``var/``;
    an installed wheel must not write its data into site-packages.
    """
    if path.is_absolute():
        return path
    return (source_checkout() or Path.cwd()) / path


def _problem_line(node: yaml.Node | None, location: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML key (or list item) at pydantic's ``location``; None if not in the file."""
    line = None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = next(((key, value) for key, value in node.value if key.value == str(part)), None)
            if found is None:
                return None
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return None
    return line


def _parse(path: Path, error: type[ConfigFileError]) -> tuple[dict[str, Any], yaml.Node | None]:
    """The top-level mapping of the file and its node tree (for line numbers); empty file: {}."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(path, "file not found") from None
    except IsADirectoryError:
        raise error(path, "is a folder, not a file") from None
    except UnicodeDecodeError:
        raise error(path, "not UTF-8 text") from None
    except OSError as problem:
        raise error(path, f"cannot read ({problem.strerror})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        raise error(path, f"not valid YAML ({problem.problem or problem.context})",
                    line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as problem:
        raise error(path, f"not valid YAML ({problem})") from None
    finally:
        loader.dispose()
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise error(path, f"expected a mapping at the top level, got a {type(data).__name__}", line=1)
    return data, node


def read_yaml_mapping(path: Path, *, error: type[ConfigFileError] = ConfigFileError) -> dict[str, Any]:
    """The file's top-level mapping, unvalidated: for callers that merge files before validating."""
    return _parse(Path(path), error)[0]


def yaml_line(path: Path, location: tuple[int | str, ...]) -> int | None:
    """Line of the key at ``location`` in ``path``, for callers that validate values merged from several sources."""
    return _problem_line(_parse(Path(path), ConfigFileError)[1], location)


def validate_mapping(
    raw: dict[str, Any],
    model: type[Model],
    *,
    source: str | Path,
    noun: str = "key",
    default: str = "file",
    error: type[ConfigFileError] = ConfigFileError,
    node: yaml.Node | None = None,
) -> Model:
    """``model`` built from ``raw``; the first problem becomes ``error`` naming ``source`` and the key."""
    try:
        return model.model_validate(raw)
    except ValidationError as problem:
        line = _problem_line(node, problem.errors()[0]["loc"])
        raise error(source, describe_validation_error(problem, noun=noun, default=default), line=line) from None


def load_yaml_model(
    path: Path,
    model: type[Model],
    *,
    noun: str = "key",
    default: str = "file",
    error: type[ConfigFileError] = ConfigFileError,
) -> Model:
    """Read ``path`` and validate it as ``model``: every problem is one line naming the file, line and key."""
    path = Path(path)
    raw, node = _parse(path, error)
    return validate_mapping(raw, model, source=path, noun=noun, default=default, error=error, node=node)
