"""Serve's fast paths come from configs/serve/deployments.yaml, become the environment Ray
Serve reads, and never override what an operator set explicitly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from serving.config import ServeConfigError, load_deployments_config
from serving.fast_paths import FastPaths, apply

SWITCHES = ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_ENABLE_HA_PROXY")


@pytest.fixture()
def clean_switches(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_committed_config_turns_throughput_mode_on_and_haproxy_where_installed() -> None:
    fast_paths = load_deployments_config().fast_paths
    assert fast_paths.environment()["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1" and fast_paths.haproxy == "auto"


def test_apply_sets_every_switch_and_an_explicit_value_wins(clean_switches: pytest.MonkeyPatch) -> None:
    clean_switches.setenv("RAY_SERVE_ENABLE_HA_PROXY", "1")  # an operator's one-off comparison
    applied = apply(FastPaths(throughput_optimized=True, haproxy="off"))
    assert applied == {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}
    assert os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1" and os.environ["RAY_SERVE_ENABLE_HA_PROXY"] == "1"


def test_haproxy_auto_follows_the_installed_binary(clean_switches: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_switches.setenv("PATH", str(tmp_path))
    assert FastPaths(haproxy="auto").environment()["RAY_SERVE_ENABLE_HA_PROXY"] == "0"
    assert "haproxy not installed" in FastPaths(haproxy="auto").describe()  # the operator learns why
    binary = tmp_path / "haproxy"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    assert FastPaths(haproxy="auto").environment()["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert "HAProxy ingress" in FastPaths(haproxy="auto").describe()
    assert "not installed" not in FastPaths(haproxy="auto").describe()


def test_a_misspelt_fast_path_names_the_key(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "configs/serve/deployments.yaml").read_text()
    bad = tmp_path / "deployments.yaml"
    bad.write_text(text.replace("throughput_optimized:", "throughput_optimised:"))
    with pytest.raises(ServeConfigError, match="throughput_optimised"):
        load_deployments_config(bad)
