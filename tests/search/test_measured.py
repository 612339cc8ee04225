"""The latency budget checked by measurement: correction and repair until the device keeps it."""

import json

import numpy as np
import pytest

from hwnas.device.spec import resolve_device
from hwnas.spaces.genotypes import NB201Genotype
from hwnas.check import LatencyCheck
from hwnas.device.agent.timing import Timing
from hwnas.search.measured import check_genotype, keep_measured_budget
from hwnas.spaces import make_space

TINY = dict(init_channels=4, layers=1, input_size=8, in_channels=1)


def lookup(piece):
    return 0.0 if piece.op in ("none", "skip_connect") else 1.0 + piece.c_in * piece.size / 100


def fake_check(ms: float, budget: float, band: float = 0.02):
    return LatencyCheck("cpu", Timing.from_samples([ms] * 10), speed=None, band=band, budget_ms=budget,
                        predicted_ms=ms)


def setup():
    space = make_space("nb201", **TINY)
    predict = space.costs(lookup)
    probs = {"cell": np.full((6, 5), 0.2)}
    dear = NB201Genotype.from_ops(["nor_conv_3x3"] * 6)
    return space, predict, probs, dear


def test_a_network_that_keeps_the_budget_is_measured_once_and_kept():
    space, predict, probs, dear = setup()
    predicted = predict.of(dear)
    outcome = keep_measured_budget(space, dear, predict, resolve_device("cpu"), predicted * 1.1, probs,
                                   check=lambda g, p: fake_check(p, predicted * 1.1))
    assert outcome.within and len(outcome.checks) == 1 and outcome.genotype == dear


def test_a_network_under_the_budget_by_less_than_the_noise_band_is_repaired():
    space, predict, probs, dear = setup()
    predicted = predict.of(dear)
    budget = predicted * 1.01  # under the budget, but a 5% band reaches past it: a coin flip, not a promise
    outcome = keep_measured_budget(space, dear, predict, resolve_device("cpu"), budget, probs,
                                   check=lambda g, p: fake_check(p, budget, band=0.05))
    assert outcome.checks[0]["verdict"] == "inside the band" and outcome.within
    assert outcome.measured["measured_ms"] * 1.05 <= budget and outcome.genotype != dear


def test_a_device_slower_than_the_table_triggers_corrected_repairs_until_it_keeps_the_budget():
    space, predict, probs, dear = setup()
    predicted = predict.of(dear)
    budget = predicted * 1.05  # the table says it fits; the device runs everything 30% slower
    check = lambda g, p: fake_check(1.3 * p, budget)  # noqa: E731
    outcome = keep_measured_budget(space, dear, predict, resolve_device("cpu"), budget, probs, check=check)
    assert outcome.within and len(outcome.checks) >= 2
    assert outcome.measured["measured_ms"] <= budget < outcome.checks[0]["measured_ms"]
    assert outcome.genotype != dear
    assert outcome.checks[-1]["target_ms"] < budget  # the target in table terms was corrected down
    assert json.loads(json.dumps(outcome.to_dict()))["within_budget"] is True


def test_an_unreachable_budget_is_reported_not_hidden():
    space, predict, probs, dear = setup()
    # every network measures far above the budget: repairs run out, the outcome says "over"
    outcome = keep_measured_budget(space, dear, predict, resolve_device("cpu"), 1e-3, probs,
                                   check=lambda g, p: fake_check(10.0, 1e-3))
    assert not outcome.within and "over the budget" in outcome.describe()


def test_check_genotype_times_the_exported_network_on_the_device():
    space = make_space("nb201", **TINY)
    check = check_genotype(space, space.sample(np.random.default_rng(0)), resolve_device("cpu"), budget_ms=100.0)
    timing = check.reading
    assert timing.repeats == 200 and 0 < timing.min_ms <= timing.p10_ms <= timing.median_ms
    # no table: no reference networks, and a band of at least 1% (more where this reading's halves disagree)
    assert check.speed is None and check.band >= 0.01 and check.verdict == "kept"


def test_search_records_predicted_and_measured_latency(tmp_path):
    """A budgeted search on a table profiled here measures its network and writes both figures."""
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare
    from hwnas.profile.build import build_table

    tables = tmp_path / "tables"
    final = make_space("nb201", init_channels=16, layers=5, input_size=8, in_channels=1, num_classes=10)
    table = build_table(final, resolve_device("cpu"), tables_dir=tables, warmup=1, repeats=5)
    low, high = table.costs().range()
    budget = round(float(low + 0.5 * (high - low)), 3)
    cfg = SearchConfig(space="nb201", epochs=1, limit=200, tables_dir=str(tables), latency_budget_ms=budget,
                       latency_loss="budget", init_channels=4, layers=1)
    result = prepare(cfg, tmp_path / "run").run()
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["latency_ms"] == pytest.approx(result.latency_ms)
    assert saved["measured_latency_ms"] > 0 and saved["measured_budget"]["checks"]
    last = saved["measured_budget"]["checks"][-1]
    assert saved["measured_budget"]["within_budget"] == (last["measured_ms"] * (1 + last["band"]) <= budget)
    assert saved["budget_verdict"] == last["verdict"]


def test_a_table_of_a_machine_the_search_cannot_reach_keeps_the_budget_in_table_terms_only(tmp_path):
    """A table profiled elsewhere and a device without a runner: no measurement here can judge
    that machine's budget, and the result says so instead of measuring the wrong machine."""
    from hwnas.profile.build import build_table
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare
    from hwnas.table import LatencyTable, table_path

    tables = tmp_path / "tables"
    final = make_space("nb201", init_channels=16, layers=5, input_size=8, in_channels=1, num_classes=10)
    table = build_table(final, resolve_device("cpu"), tables_dir=tables, warmup=1, repeats=5)
    table.meta["host"] = {**table.meta["host"], "cpu": "ARM Cortex-A72", "arch": "aarch64", "flags": ["asimd"]}
    table.save(table_path("cpu", final, tables))
    assert not LatencyTable.load(table_path("cpu", final, tables)).meta["host"]["flags"] == ["avx2"]
    low, high = table.costs().range()
    cfg = SearchConfig(space="nb201", epochs=1, limit=200, tables_dir=str(tables), init_channels=4, layers=1,
                       latency_budget_ms=round(float(low + 0.5 * (high - low)), 3), latency_loss="budget")
    result = prepare(cfg, tmp_path / "run").run()
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result.measured is None and saved["budget_verdict"] == "table terms only"
    assert "ARM Cortex-A72" in saved["measured_note"] and "give the device file a `runner:`" in saved["measured_note"]
    assert saved["measured_latency_ms"] is None and saved["latency_ms"] <= cfg.latency_budget_ms
