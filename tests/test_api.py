"""``hwnas.api``: the settings it fills in, and the mistakes it refuses in one line before any work."""

import pytest

from hwnas import api
from hwnas.search.config import search_config


def test_search_settings_take_budgets_as_text_or_numbers():
    assert search_config("nb201", latency_budget="2ms").latency_budget_ms == 2.0
    by_field = search_config("nb201", latency_budget_ms=0.1, param_budget="1.5M")
    assert (by_field.latency_budget_ms, by_field.latency_loss, by_field.param_budget) == (0.1, "budget", 1_500_000)
    assert search_config("nb201", dataset="cifar10").limit == 2000  # a CPU reads a subset by default
    assert search_config("nb201", dataset="cifar10", torch_device="cuda").limit is None
    with pytest.raises(ValueError, match="unknown search setting"):
        search_config("nb201", epoch=3)


def test_mistakes_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="pass one of them"):
        api.run_search(search_config("nb201"), tmp_path / "s", resume=True, overwrite=True)
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="the data set decides"):
        api.train("darts_v2", network={"input_size": 8}, runs_dir=tmp_path)
    with pytest.raises(ValueError, match="does not match the genotype"):
        api.train("darts_v2", space="nb201", runs_dir=tmp_path)
    with pytest.raises(ValueError, match="the benchmark hwnas reads is nb201"):
        api.pareto(space="nb201", objectives=["latency", "params"], benchmark="nb301", out=tmp_path / "p")


def test_a_resumed_search_keeps_its_settings(tmp_path):
    found = api.search("nb201", epochs=1, limit=100, batch_size=32, name="r", runs_dir=tmp_path, measure_budget=False)
    assert (tmp_path / "r" / "genotype.json").is_file() and found.config.epochs == 1
    with pytest.raises(ValueError, match="epochs: 3, the run has 1"):
        api.search(epochs=3, name="r", runs_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="space: 'darts', the run has 'nb201'"):
        api.search("darts", name="r", runs_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="already holds a search's files"):
        api.search("nb201", epochs=1, limit=100, name="r", runs_dir=tmp_path)
