"""The latency budget checked by measurement: correction and repair until the device keeps it."""

import json

import numpy as np
import pytest

from hwnas.core.device import resolve_device
from hwnas.core.genotype import NB201Genotype
from hwnas.profile.timing import Timing
from hwnas.search.measured import keep_measured_budget, measure_genotype
from hwnas.spaces import make_space

TINY = dict(init_channels=4, layers=1, input_size=8, in_channels=1)


def lookup(piece):
    return 0.0 if piece.op in ("none", "skip_connect") else 1.0 + piece.c_in * piece.size / 100


def fake_device_timing(ms: float) -> Timing:
    return Timing.from_samples([ms] * 10)


def setup():
    space = make_space("nb201", **TINY)
    predict = lambda x: space.latency_many(x, lookup)  # noqa: E731
    probs = {"cell": np.full((6, 5), 0.2)}
    dear = NB201Genotype.from_ops(["nor_conv_3x3"] * 6)
    return space, predict, probs, dear


def test_a_network_that_keeps_the_budget_is_measured_once_and_kept():
    space, predict, probs, dear = setup()
    predicted = float(predict(space.encode(dear)[None])[0])
    outcome = keep_measured_budget(space, dear, predict, resolve_device("cpu"), predicted * 1.1, probs,
                                   measure=lambda g: fake_device_timing(float(predict(space.encode(g)[None])[0])))
    assert outcome.within and len(outcome.checks) == 1 and outcome.genotype == dear


def test_a_device_slower_than_the_table_triggers_corrected_repairs_until_it_keeps_the_budget():
    space, predict, probs, dear = setup()
    predicted = float(predict(space.encode(dear)[None])[0])
    budget = predicted * 1.05  # the table says it fits; the device runs everything 30% slower
    measure = lambda g: fake_device_timing(1.3 * float(predict(space.encode(g)[None])[0]))  # noqa: E731
    outcome = keep_measured_budget(space, dear, predict, resolve_device("cpu"), budget, probs, measure=measure)
    assert outcome.within and len(outcome.checks) >= 2
    assert outcome.measured["measured_ms"] <= budget < outcome.checks[0]["measured_ms"]
    assert outcome.genotype != dear
    assert outcome.checks[-1]["target_ms"] < budget  # the target in table terms was corrected down
    assert json.loads(json.dumps(outcome.to_dict()))["within_budget"] is True


def test_an_unreachable_budget_is_reported_not_hidden():
    space, predict, probs, dear = setup()
    # every network measures far above the budget: repairs run out, the outcome says "over"
    outcome = keep_measured_budget(space, dear, predict, resolve_device("cpu"), 1e-3, probs,
                                   measure=lambda g: fake_device_timing(10.0))
    assert not outcome.within and "over the budget" in outcome.describe()


def test_measure_genotype_times_the_exported_network_on_the_device():
    space = make_space("nb201", **TINY)
    timing = measure_genotype(space, space.sample(np.random.default_rng(0)), resolve_device("cpu"), repeats=8, rounds=2)
    assert timing.repeats == 8 and 0 < timing.min_ms <= timing.p10_ms <= timing.median_ms


def test_search_records_predicted_and_measured_latency(tmp_path):
    """A budgeted search on a table profiled here measures its network and writes both figures."""
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare
    from hwnas.profile.build import build_table

    tables = tmp_path / "tables"
    final = make_space("nb201", init_channels=16, layers=5, input_size=8, in_channels=1, num_classes=10)
    table = build_table(final, resolve_device("cpu"), tables_dir=tables, warmup=1, repeats=5)
    best, worst = final.latency_extremes(table.lookup)
    low, high = table.predict_many(np.stack([best, worst]))
    budget = round(float(low + 0.5 * (high - low)), 3)
    cfg = SearchConfig(space="nb201", epochs=1, limit=200, tables_dir=str(tables), latency_budget_ms=budget,
                       latency_loss="budget", init_channels=4, layers=1)
    result = prepare(cfg, tmp_path / "run").run()
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["latency_ms"] == pytest.approx(result.latency_ms)
    assert saved["measured_latency_ms"] > 0 and saved["measured_budget"]["checks"]
    assert saved["measured_budget"]["within_budget"] == (saved["measured_latency_ms"] <= budget)
