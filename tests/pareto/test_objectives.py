"""Objectives assembled for ``hwnas pareto`` and the demo."""

import numpy as np
import pytest

from hwnas.pareto.objectives import assemble, check_names
from hwnas.spaces import make_space

SPACE = make_space("nb201", init_channels=4, layers=1, input_size=8)
X = np.stack([SPACE.encode(SPACE.sample(np.random.default_rng(s))) for s in range(5)])


def test_params_and_flops_come_from_the_space():
    objectives = assemble(["params", "flops"], SPACE)
    assert objectives.names == ["params", "flops"] and not objectives.constraints
    assert np.array_equal(objectives.functions["params"](X), SPACE.params.many(X))
    assert np.array_equal(objectives.functions["flops"](X), SPACE.flops.many(X))


def test_a_benchmark_objective_wins_over_the_space_and_a_budget_is_a_constraint():
    bench = {"params": lambda x: np.full(len(x), 7.0), "error": lambda x: np.zeros(len(x))}
    objectives = assemble(["error", "params"], SPACE, benchmark=bench, param_budget=5)
    assert objectives.functions["params"](X).tolist() == [7.0] * 5
    assert objectives.constraints["params"](X).tolist() == [2.0] * 5  # feasible when <= 0


def test_the_latency_budget_reads_the_table(tiny_table):
    space, table, _ = tiny_table
    x = np.stack([space.encode(space.sample(np.random.default_rng(s))) for s in range(4)])
    objectives = assemble(["latency", "params"], space, table=table, latency_budget_ms=1.0)
    assert np.allclose(objectives.constraints["latency"](x), table.costs().many(x) - 1.0)


@pytest.mark.parametrize("names,kwargs,match", [
    (["error", "params"], {}, "objective error needs search runs .* or --benchmark nb201"),
    (["latency", "params"], {}, "objective latency needs the device's latency table"),
    (["latency_fpga", "params"], {}, "needs --benchmark nb201"),
    (["params", "flops"], {"latency_budget_ms": 3.0}, "a latency budget needs the device's latency table"),
])
def test_what_cannot_be_computed_says_what_it_needs(names, kwargs, match):
    with pytest.raises(ValueError, match=match):
        assemble(names, SPACE, **kwargs)


@pytest.mark.parametrize("names", [["error"], ["error", "error"], ["error", "speed"]])
def test_two_or_more_different_known_objectives(names):
    with pytest.raises(ValueError, match="two or more different ones of error, latency"):
        check_names(names)
