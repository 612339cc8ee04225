import numpy as np
import pytest

from hwnas.spaces import make_space

TINY = {"darts": dict(init_channels=4, layers=3, input_size=8, in_channels=1),
        "nb201": dict(init_channels=4, layers=1, input_size=8, in_channels=1),
        "fbnet": dict(input_size=8, in_channels=1, num_classes=10),
        "mbv3": dict(input_size=8, in_channels=1)}


def fake_lookup(piece):
    return 0.0 if piece.op in ("none", "skip_connect", "skip") else 1.0 + piece.c_in * piece.size / 100


@pytest.mark.parametrize("name", ["nb201", "darts"])  # searched whole; repaired greedily
def test_repair_meets_the_budget_and_keeps_the_others(name):
    from hwnas.search.repair import repair_to_budget

    space = make_space(name, **TINY[name])
    dearest = space.decode(space.costs(fake_lookup).extremes()[1])
    latency = space.costs(fake_lookup)
    start = latency.of(dearest)
    params_limit = space.params.of(dearest)
    probs = {k: np.full(shape, 1.0 / shape[-1]) for k, shape in space.arch_shapes().items()}
    repaired, swaps = repair_to_budget(space, latency, dearest, probs, start * 0.6,
                                       keep=[(space.params, params_limit)])
    x = space.encode(repaired)[None]
    assert swaps and float(latency.many(x)[0]) <= start * 0.6
    assert float(space.params.many(x)[0]) <= params_limit
    with pytest.raises(ValueError, match="out of reach"):
        repair_to_budget(space, latency, dearest, probs, -1.0)


def test_a_small_space_is_searched_whole_for_the_strongest_genotype_within_budget():
    from hwnas.spaces.genotypes import skip_connections
    from hwnas.search.repair import every_vector, repair_to_budget

    space = make_space("nb201", **TINY["nb201"])
    every = every_vector(space)
    assert len(every) == 5 ** 6 and len(np.unique(every, axis=0)) == 5 ** 6
    rng = np.random.default_rng(0)
    probs = {"cell": rng.dirichlet(np.ones(5), size=6)}
    params = space.params.many(every)
    budget = float(np.quantile(params, 0.3))
    start = space.decode(every[int(np.argmax(params))])
    log_p = np.log(probs["cell"][np.arange(6), every]).sum(axis=1)  # each cell's architecture weight
    skip = space.ops.index("skip_connect")
    for max_skip, allowed in [(None, params <= budget), (1, (params <= budget) & ((every == skip).sum(1) <= 1))]:
        repaired, changes = repair_to_budget(space, space.params, start, probs, budget, unit="params",
                                             max_skip=max_skip)
        best = every[np.flatnonzero(allowed)[np.argmax(log_p[allowed])]]
        assert np.array_equal(space.encode(repaired), best) and changes
    assert skip_connections(repaired) <= 1
    # where no cell within the budget keeps the cap, the budget wins
    cheapest = float(params.min())
    repaired, _ = repair_to_budget(space, space.params, start, probs, cheapest, unit="params", max_skip=0)
    assert space.params.of(repaired) == cheapest


def test_a_large_space_is_not_listed():
    from hwnas.search.repair import every_vector

    assert every_vector(make_space("darts", **TINY["darts"])) is None


def test_the_greedy_repair_keeps_the_skip_cap_where_it_can():
    from hwnas.spaces.genotypes import skip_connections
    from hwnas.search.repair import repair_to_budget

    def lookup(piece):  # skips are free, pools cheap
        return 0.2 if "pool" in piece.op else fake_lookup(piece)

    space = make_space("darts", **TINY["darts"])
    cheapest, dearest = (space.decode(x) for x in space.costs(lookup).extremes())
    latency = space.costs(lookup)
    low, high = (latency.of(g) for g in (cheapest, dearest))
    budget = low + 0.5 * (high - low)
    probs = {k: np.full(shape, 1.0 / shape[-1]) for k, shape in space.arch_shapes().items()}
    free, _ = repair_to_budget(space, latency, dearest, probs, budget)
    capped, _ = repair_to_budget(space, latency, dearest, probs, budget, max_skip=1)
    assert skip_connections(free) > 1  # without the cap the cheapest changes are skips
    assert skip_connections(capped) <= 1 and latency.of(capped) <= budget
