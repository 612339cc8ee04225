import numpy as np
import pytest
import torch

from hwnas.spaces.genotypes import DARTS_OPS
from hwnas.search.arch import Architecture
from hwnas.spaces import make_space
from hwnas.spaces.darts import darts_edges

TINY = {"darts": dict(init_channels=4, layers=3, input_size=8, in_channels=1),
        "nb201": dict(init_channels=4, layers=1, input_size=8, in_channels=1),
        "fbnet": dict(input_size=8, in_channels=1, num_classes=10),
        "mbv3": dict(input_size=8, in_channels=1)}


def fake_lookup(piece):
    return 0.0 if piece.op in ("none", "skip_connect", "skip") else 1.0 + piece.c_in * piece.size / 100


@pytest.mark.parametrize("name", ["darts", "nb201", "fbnet", "mbv3"])
def test_expected_latency_of_one_hot_alpha_equals_genotype_cost(name):
    """E[LAT] at a decided architecture equals the genotype's table latency (sum over its pieces)."""
    space = make_space(name, **TINY[name])
    model = space.costs(fake_lookup)
    rng = np.random.default_rng(0)
    for _ in range(20):  # NB201: cells with `none` edges, dead edges and sums of 1-3 inputs
        g = space.sample(rng)
        probs = {}
        if name == "darts":
            for cell in ("normal", "reduce"):
                p = torch.zeros(len(darts_edges()), len(DARTS_OPS))
                p[:, DARTS_OPS.index("none")] = 1.0
                for k, (op, src) in enumerate(getattr(g, cell)):
                    e = darts_edges().index((k // 2, src))
                    p[e] = 0.0
                    p[e, DARTS_OPS.index(op)] = 1.0
                probs[cell] = p
        else:  # one group per candidate list (mbv3 has four)
            probs = {k: torch.as_tensor(w, dtype=torch.float32) for k, w in space.one_hot_weights(g).items()}
        assert float(model.expected(probs)) == pytest.approx(sum(fake_lookup(p) for p in space.pieces(g)), rel=1e-5)


@pytest.mark.parametrize("name", ["darts", "nb201", "fbnet", "mbv3"])
def test_latency_penalty_gradient_points_to_cheaper_networks(name):
    torch.manual_seed(0)
    space = make_space(name, **TINY[name])
    model = space.costs(fake_lookup)
    arch = Architecture(space.arch_shapes(), init_scale=0.5)
    before = model.expected(arch.probs())
    before.backward()
    with torch.no_grad():
        for alpha in arch.alphas.values():
            alpha -= 0.05 * alpha.grad
    with torch.no_grad():
        assert float(model.expected(arch.probs())) < float(before)
    if name != "darts":  # at each position the dearer op gets the larger gradient
        for group, alpha in arch.alphas.items():
            cost = model.arrays.choice[group]
            for e in range(cost.shape[0]):
                dear, cheap = int(cost[e].argmax()), int(cost[e].argmin())
                if cost[e, dear] > cost[e, cheap]:
                    assert alpha.grad[e, dear] > alpha.grad[e, cheap]
