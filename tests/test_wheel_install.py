"""A wheel install (``pip install .``, not ``-e``) carries the configs and finds them.

Before configs/ was package data, an installed ``efp cities list`` showed an empty
catalogue without a word. The wheel is built and installed into a fresh venv that sees
this venv's third-party packages but not the editable install of this project, and its
commands run from a folder outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Installed:
    python: Path
    efp: Path
    site_packages: Path
    workdir: Path
    data_dir: Path

    def run(self, *argv: str | Path, data_dir: bool = True) -> str:
        env = {key: value for key, value in os.environ.items() if not key.startswith("EFP_") and key != "PYTHONPATH"}
        if data_dir:
            env["EFP_DATA_DIR"] = str(self.data_dir)
        done = subprocess.run([str(arg) for arg in argv], cwd=self.workdir, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout


def _copy_sources(target: Path) -> Path:
    """The files a wheel is built from, copied: an in-tree build leaves build/ behind, whose
    stale files a later wheel would carry."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        packages = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]["include"]
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, target / name)
    for pattern in packages:
        top = pattern.rstrip("*")
        shutil.copytree(REPO_ROOT / top, target / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _run(*argv: str | Path, cwd: Path) -> None:
    done = subprocess.run([str(arg) for arg in argv], cwd=cwd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = _copy_sources(root / "src")
    # No build isolation: the only reachable index is the package registry, and the build
    # needs only the setuptools and wheel already in this venv.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", root / "dist", source, cwd=root)
    wheel = next((root / "dist").glob("energy_forecast_platform-*.whl"))
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=root)
    python = venv / "bin" / "python"
    # Installed before the .pth below exists, so pip sees an empty environment.
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel, cwd=root)
    site_packages = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # A plain path line: the third-party packages become importable, but the .pth files in
    # that folder (this project's editable finder among them) are not processed.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "main_venv_packages.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")
    workdir = root / "elsewhere"
    workdir.mkdir()
    return Installed(python, venv / "bin" / "efp", site_packages, workdir, root / "data")


def test_the_installed_packages_come_from_the_wheel_not_the_checkout(installed: Installed) -> None:
    out = installed.run(installed.python, "-c", "import configs, data, serving; print(data.__file__); print(configs.__file__); print(serving.__file__)")
    for line in out.splitlines():
        assert Path(line).is_relative_to(installed.site_packages), line


def test_efp_cities_list_shows_the_packaged_catalogue(installed: Installed) -> None:
    cities = json.loads(installed.run(installed.efp, "cities", "list", "--json"))
    assert {"DEL", "MUM"} <= {city["code"] for city in cities}


def test_every_loader_reads_the_packaged_configs_and_data_stays_out_of_site_packages(installed: Installed) -> None:
    probe = """
import json
from data.config_files import config_path
from data.settings import load_settings
from data.synthetic.profiles import load_config
from data.validation import load_rules
from serving.config import load_deployments_config
from training.backtest import load_backtest_config
from training.config import load_train_config
from training.tuning import load_space
settings = load_settings()
print(json.dumps({
    "training": str(config_path("training.yaml")), "models": load_train_config().models,
    "demo_models": load_train_config(config_path("training-demo.yaml")).models,
    "spike": load_rules().spike_threshold, "space": load_space("lstm").model,
    "feature_cache_size": load_deployments_config().feature_cache_size,
    "backtest_days": load_backtest_config().promotion.days, "climates": len(load_config().climates),
    "data_dir": str(settings.data_dir),
}))
"""
    found = json.loads(installed.run(installed.python, "-c", probe))
    assert Path(found["training"]).is_relative_to(installed.site_packages)
    assert found["models"] and found["demo_models"] and found["space"] == "lstm" and found["feature_cache_size"] > 0
    assert found["spike"] > 0 and found["backtest_days"] > 0 and found["climates"] > 0
    assert found["data_dir"] == str(installed.data_dir)
    # Without EFP_DATA_DIR the relative defaults land in the working directory, not site-packages.
    paths = "from data.settings import load_settings; s = load_settings(); print(s.data_dir); print(s.registry_path)"
    data_dir, registry = installed.run(installed.python, "-c", paths, data_dir=False).split()
    assert (data_dir, registry) == (str(installed.workdir / "var"), str(installed.workdir / "var" / "registry"))


def test_efp_cities_add_writes_the_overlay_beside_the_data(installed: Installed) -> None:
    installed.run(installed.efp, "cities", "add", "OSL", "--name", "Oslo", "--country", "NO", "--lat", "59.9",
                  "--lon", "10.75", "--timezone", "Europe/Oslo", "--peak-mw", "3000", "--json")
    assert (installed.data_dir / "meta" / "cities.yaml").is_file()
    assert not list(installed.site_packages.rglob("meta/cities.yaml"))
    assert "OSL" in {city["code"] for city in json.loads(installed.run(installed.efp, "cities", "list", "--json"))}


def test_the_dashboard_page_and_assets_are_served_from_the_wheel(installed: Installed) -> None:
    probe = """
import json
from importlib.resources import files
from fastapi import FastAPI
from fastapi.testclient import TestClient
import serving.dashboard
from serving.dashboard.router import ASSETS
app = FastAPI()
app.include_router(serving.dashboard.router)
client = TestClient(app)
print(json.dumps({"folder": str(files("serving.dashboard") / "static"),
                  "status": {path: client.get(path).status_code for path in ["/dashboard", *(f"/dashboard/static/{n}" for n in ASSETS)]}}))
"""
    found = json.loads(installed.run(installed.python, "-c", probe))
    assert Path(found["folder"]).is_relative_to(installed.site_packages)
    assert set(found["status"].values()) == {200} and len(found["status"]) == 4, found
