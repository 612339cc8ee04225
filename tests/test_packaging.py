"""The wheel carries the shipped latency tables and device files, so a non-editable install works."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_IN_COPY = {".git", ".venv", ".data", "build", "runs", "__pycache__", ".pytest_cache", "hwnas.egg-info"}


def test_the_wheel_ships_tables_and_devices_and_runs_info(tmp_path):
    # built from a copy of the sources: a build/ folder left in the tree can hold stale modules
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [n for n in names if n in SKIPPED_IN_COPY])
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed: {build.stderr[-2000:]}")
    wheel = next((tmp_path / "dist").glob("hwnas-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"hwnas/devices/cpu.yaml", "hwnas/latency_tables/cpu/darts-c36-l20-s32-in3-n10.csv",
            "hwnas/latency_tables/cpu/darts-c36-l20-s32-in3-n10.json", "hwnas/spaces/mbv3.yaml",
            "hwnas/latency_tables/cpu/mbv3-s32-in3-n10.csv"} <= names
    # installed alone into a fresh folder (its dependencies come from this environment), run
    # from elsewhere, so that nothing of the source tree can stand in for the package data
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    script = ("import sys, hwnas; from hwnas.cli import main; print(hwnas.__file__); "
              "sys.exit(main(['info', 'darts_v2', '--device', 'cpu']))")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(site)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith(str(site))
    assert "latency on cpu (table)" in out.stdout


def test_the_package_list_names_every_package_folder():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hwnas").rglob("__init__.py")}
    assert folders <= listed and listed - folders == {"hwnas.latency_tables", "hwnas.devices"}
