"""``hwnas pareto --workers``: error estimates on Ray workers give the serial run's front."""

import json

import pandas as pd
import pytest
import torch

from hwnas.cli import main


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["search", "--space", "nb201", "--epochs", "1", "--limit", "200", "--batch-size", "32",
                 "--runs-dir", str(runs), "--name", "s", "--threads", "1"]) == 0
    return runs / "s"


def pareto(run, out, *extra):
    return main(["pareto", str(run), "--objectives", "error", "params", "--pop-size", "8", "--evaluations", "24",
                 "--val-images", "64", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module's tests (a run that finds Ray started leaves it running)."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'hwnas[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("estimate", ["naswot", "one-shot"])
def test_two_ray_workers_give_the_serial_front(search_run, local_ray, tmp_path, estimate):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker computes
    try:
        assert pareto(search_run, tmp_path / "serial", "--error-estimate", estimate) == 0
    finally:
        torch.set_num_threads(threads)
    assert pareto(search_run, tmp_path / "ray", "--error-estimate", estimate, "--workers", "2") == 0
    for name in ("pareto", "evaluated"):
        serial, ray = (pd.read_csv(tmp_path / run / f"{name}.csv") for run in ("serial", "ray"))
        pd.testing.assert_frame_equal(serial, ray)
    assert json.loads((tmp_path / "ray" / "pareto.json").read_text())["workers"] == 2


def test_workers_without_ray_say_what_to_install(search_run, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    assert pareto(search_run, tmp_path / "x", "--workers", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hwnas pareto: error: --workers needs Ray, an optional extra: pip install 'hwnas[ray]' "
                   "(or pip install ray)"]


def test_workers_with_a_benchmark_are_refused_in_one_line(nb201_csv, tmp_path, capsys):
    assert main(["pareto", "--space", "nb201", "--benchmark", "nb201", "--benchmark-file", str(nb201_csv),
                 "--workers", "2", "--out", str(tmp_path)]) == 2
    assert "there is nothing to spread" in capsys.readouterr().err
