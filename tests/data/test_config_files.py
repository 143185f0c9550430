"""One place finds config files and one loader reads them: every problem is one line
naming the file, the line where there is one, and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from data.config_files import (
    CONFIG_DIR_ENV,
    ConfigFileError,
    config_path,
    load_yaml_model,
    read_yaml_mapping,
    resolve_data_path,
    shipped_config_dir,
)


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(1, gt=0)


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "x"
    inner: Inner = Field(default_factory=Inner)
    items: list[Inner] = Field(default_factory=list)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sample.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_misspelt_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: a\ninner:\n  size: 2\n  sise: 3\n")
    with pytest.raises(ConfigFileError) as caught:
        load_yaml_model(path, Sample)
    assert str(caught.value) == f"{path}, line 4: key 'inner.sise': unknown key"
    assert caught.value.exit_code == 2 and caught.value.line == 4


def test_a_bad_value_in_a_list_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "items:\n  - size: 1\n  - size: -1\n")
    with pytest.raises(ConfigFileError, match=r"sample.yaml, line 3: field 'items.1.size': Input should be greater than 0"):
        load_yaml_model(path, Sample, noun="field")


def test_invalid_yaml_gives_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: a\ninner:\n  size: [1, 2\nitems: []\n")
    with pytest.raises(ConfigFileError) as caught:
        read_yaml_mapping(path)
    assert caught.value.line == 4 and str(caught.value).startswith(f"{path}, line 4: not valid YAML (")


@pytest.mark.parametrize(
    "text, problem",
    [("- a\n- b\n", "expected a mapping at the top level, got a list"), ("---\na: 1\n---\nb: 2\n", "not valid YAML")],
)
def test_a_top_level_that_is_not_one_mapping_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigFileError, match=problem):
        read_yaml_mapping(_write(tmp_path, text))


def test_missing_unreadable_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"nope.yaml: file not found"):
        load_yaml_model(tmp_path / "nope.yaml", Sample)
    with pytest.raises(ConfigFileError, match="is a folder, not a file"):
        read_yaml_mapping(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigFileError, match="not UTF-8 text"):
        read_yaml_mapping(binary)
    assert load_yaml_model(_write(tmp_path, "# only a comment\n"), Sample) == Sample()


def test_the_callers_error_class_is_raised(tmp_path: Path) -> None:
    class ToolConfigError(ConfigFileError):
        pass

    with pytest.raises(ToolConfigError, match="unknown key"):
        load_yaml_model(_write(tmp_path, "nmae: a\n"), Sample, error=ToolConfigError)


def test_the_site_folder_overrides_file_by_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_DIR_ENV, raising=False)
    assert config_path("tune/lstm.yaml") == shipped_config_dir() / "tune" / "lstm.yaml"
    assert config_path("tune/lstm.yaml").is_file()
    (tmp_path / "tune").mkdir()
    (tmp_path / "tune" / "lstm.yaml").write_text("model: lstm\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    assert config_path("tune/lstm.yaml") == tmp_path / "tune" / "lstm.yaml"
    assert config_path("training.yaml") == shipped_config_dir() / "training.yaml"


def test_a_site_folder_that_does_not_exist_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigFileError, match=f"{CONFIG_DIR_ENV} names no folder"):
        config_path("training.yaml")


def test_relative_data_paths_resolve_against_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_data_path(Path("var")) == shipped_config_dir().parent / "var"
    assert resolve_data_path(tmp_path / "x") == tmp_path / "x"
