"""The front door as written: the README is short, its links and the docs site hold together,
and every command of the README and the getting-started page runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
SETUP = ("make ", "pip ", "source ")  # installs and the two quick-start commands: not run here


def blocks(path: Path, language: str) -> list:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def commands(path: Path) -> list:
    lines = [line.split("  #")[0].strip() for block in blocks(path, "bash") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith(SETUP)]


def test_the_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).is_file(), f"the README links to {target}, which is not there"


def test_the_docs_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs tools are in the dev extra (make install)")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    from hwnas import api as module

    for name in module.__all__:  # the API reference lists every public function and result
        assert f'id="hwnas.api.{name}"' in api, f"hwnas.api.{name} is missing from the API reference"


def _fresh_env(tmp_path: Path) -> dict:
    """This Python's scripts first on PATH; tables profiled here go to the temporary folder."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HWNAS_TABLES": str(tmp_path / "tables"), "PYTHONPATH": str(ROOT)}


def test_every_command_runs_as_written(tmp_path):
    """In order, in one fresh folder (later commands read what earlier ones wrote); a command
    the two pages share runs once."""
    found = {page.name: commands(page) for page in (README, GETTING_STARTED)}
    assert all(found.values()), f"no commands found in {[name for name, lines in found.items() if not lines]}"
    for line in dict.fromkeys(line for lines in found.values() for line in lines):
        out = subprocess.run(line, shell=True, cwd=tmp_path, env=_fresh_env(tmp_path), capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, f"`{line}` exited {out.returncode}: {out.stderr[-2000:]}"


def test_the_python_example_runs_as_written_after_every_stage_is_imported(tmp_path):
    """Every stage package imported first (no name of the API may be shadowed), then the
    README's example, which calls two API functions in a row."""
    (example,) = blocks(README, "python")
    stages = ["core", "device", "spaces", "runs", "table", "check", "profile", "search", "pareto", "train", "export",
              "demo", "cli"]
    program = "".join(f"import hwnas.{stage}\n" for stage in stages) + example
    out = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=_fresh_env(tmp_path), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = out.stdout.strip().splitlines()
    assert len(printed) == 2 and printed[1].startswith("test accuracy ") and "budget 0.1 ms" in printed[0]
    assert (tmp_path / "runs" / "py-first" / "genotype.json").is_file()
    assert (tmp_path / "runs" / "py-first-train" / "best.pt").is_file()
