"""``report.html``: one self-contained page that a real browser renders, with every front's
points and the commands that train and export a genotype."""

import re
import shutil
import subprocess

import pytest

from hwnas.pareto.nsga2 import run_nsga2, write_result
from hwnas.pareto.report import commands, write_report
from hwnas.spaces import make_space

SPACE = make_space("nb201", init_channels=4, layers=1, input_size=8)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture
def report(tmp_path, toy_objectives):
    objectives = toy_objectives()
    objectives.functions["params"] = SPACE.params.many
    result = run_nsga2(SPACE, objectives, pop_size=10, evaluations=40, seed=0)
    searched = [result.evaluated["genotype"].iloc[0]]
    write_result(result, tmp_path, SPACE, objectives.names, device="cpu", searched=searched)
    return write_report(tmp_path), result


def test_the_page_stands_alone_and_names_the_commands(report):
    path, result = report
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js inlined: opens without a network
    assert "hwnas train" in page and "hwnas export" in page and "searched" in page
    genotype = result.front["genotype"].iloc[0]
    meta = {"data": {"dataset": "cifar10", "data_dir": "data"}, "measure_on": "cpu@int8"}
    run = commands(genotype, "pareto-3", {"init_channels": 4, "layers": 1, "input_size": 8}, meta)
    # the network options the data set does not decide, the search's data; the export reads the training run's
    assert run["train"].endswith("--init-channels 4 --layers 1 --dataset cifar10 --data-dir data --name pareto-3")
    assert run["export"].endswith("--weights runs/pareto-3/best.pt --out pareto-3.onnx --measure --device cpu@int8")
    assert commands(genotype, "pareto-3", None, meta) == {}  # a space that cannot be rebuilt: no commands guessed


def test_a_headless_browser_renders_the_front(report):
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium)")
    path, result = report
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="main-svg"') >= 1  # plotly drew its figure
    # every evaluated genotype is a point in each of the 3 panels, besides the fronts' and the searched one
    assert dom.count('class="point"') >= 3 * len(result.evaluated)
