import numpy as np
import pytest

from hwnas.spaces import make_space

TINY = {"darts": dict(init_channels=4, layers=3, input_size=8, in_channels=1),
        "nb201": dict(init_channels=4, layers=1, input_size=8, in_channels=1),
        "fbnet": dict(input_size=8, in_channels=1, num_classes=10)}


def fake_lookup(piece):
    return 0.0 if piece.op in ("none", "skip_connect", "skip") else 1.0 + piece.c_in * piece.size / 100


def test_repair_meets_the_budget_and_keeps_the_others():
    from hwnas.search.repair import repair_to_budget

    space = make_space("nb201", **TINY["nb201"])
    dearest = space.decode(space.latency_extremes(fake_lookup)[1])
    latency = lambda x: space.latency_many(x, fake_lookup)  # noqa: E731
    start = float(latency(space.encode(dearest)[None])[0])
    params_limit = float(space.params_many(space.encode(dearest))[0])
    probs = {"cell": np.full((6, 5), 0.2)}
    repaired, swaps = repair_to_budget(space, latency, dearest, probs, start * 0.6,
                                       keep=[(space.params_many, params_limit)])
    x = space.encode(repaired)[None]
    assert swaps and float(latency(x)[0]) <= start * 0.6
    assert float(space.params_many(x)[0]) <= params_limit
    with pytest.raises(ValueError, match="out of reach"):
        repair_to_budget(space, latency, dearest, probs, -1.0)
