"""Zero-cost scores: each against its definition on networks small enough to work by hand."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.pareto.objectives import ESTIMATES
from hwnas.pareto.zero_cost import PROXIES, ZeroCostEvaluator, grad_norm, naswot, snip, synflow
from hwnas.spaces import make_space


def two_layers(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_the_pareto_stage_offers_every_score():
    assert set(ESTIMATES) == {"one-shot", *PROXIES, "predictor"}


def test_naswot_is_the_log_determinant_of_relu_agreements():
    model, (x, y) = two_layers(), batch()
    codes = (model[:3](x) > 0).double()
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    assert naswot(model, x, y) == pytest.approx(float(torch.linalg.slogdet(kernel + 1e-3 * torch.eye(8))[1]))
    assert naswot(model, x, y) == pytest.approx(float(torch.linalg.slogdet(kernel)[1]), rel=1e-4)  # the ridge is tiny
    same = x[:1].repeat(8, 1, 1, 1)  # images the network cannot tell apart: a singular kernel
    assert np.isfinite(naswot(model, same, y)) and naswot(model, same, y) < naswot(model, x, y) - 20


def test_synflow_of_a_linear_chain_is_twice_its_path_sum():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6, bias=False), nn.Linear(6, 3, bias=False))
    w1, w2 = (model[i].weight.detach().abs().double() for i in (1, 2))
    paths = float(torch.ones(3, dtype=torch.float64) @ w2 @ w1 @ torch.ones(12, dtype=torch.float64))
    # each layer's saliency |w * dR/dw| sums to the path sum R
    assert synflow(model, *batch()) == pytest.approx(2 * paths)
    assert (model[1].weight.detach() < 0).any()  # the network itself keeps its signs: synflow scored a copy



def test_snip_and_grad_norm_follow_the_loss_gradient():
    model, (x, y) = two_layers(), batch()
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    params = list(model.parameters())
    expected_snip = sum(float((p.detach() * g).abs().sum()) for p, g in zip(params, grads) if p.dim() == 2)
    expected_norm = sum(float(g.norm()) for g in grads)
    assert snip(two_layers(), x, y) == pytest.approx(expected_snip)
    assert grad_norm(two_layers(), x, y) == pytest.approx(expected_norm)


def test_the_evaluator_minimises_minus_the_score_reproducibly():
    space = make_space("nb201", init_channels=4, layers=1, input_size=8)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    vectors = np.stack([space.encode(space.sample(np.random.default_rng(s))) for s in range(4)])
    first = ZeroCostEvaluator(space, "naswot", (x, y), seed=3)
    errors = first(vectors)
    assert errors.shape == (4,) and np.allclose(errors, [-first.score(v) for v in vectors])
    assert np.allclose(ZeroCostEvaluator(space, "naswot", (x, y), seed=3)(vectors), errors)
    with pytest.raises(ValueError, match="unknown zero-cost estimate 'accuracy'; choose one of naswot"):
        ZeroCostEvaluator(space, "accuracy", (x, y))


def test_the_predictor_learns_what_each_choice_adds():
    from scipy.stats import kendalltau

    from hwnas.pareto.predictor import AccuracyPredictor

    space = make_space("nb201")
    rng = np.random.default_rng(0)
    worth = rng.normal(size=(6, 5))  # an accuracy that adds up over the edges' operations
    x = rng.integers(0, 5, size=(400, 6))  # random forests learn it approximately
    accuracy = 80 + worth[np.arange(6), x].sum(axis=1)
    predictor = AccuracyPredictor(space).fit(x[:200], accuracy[:200])
    assert kendalltau(predictor.predict(x[200:]), accuracy[200:]).statistic > 0.6
    assert np.allclose(predictor(x[60:]), 100 - predictor.predict(x[60:]))
    with pytest.raises(ValueError, match="not fitted"):
        AccuracyPredictor(space).predict(x)


def test_the_predictors_quality_is_its_leave_one_out_rank_beside_the_default_estimates():
    from scipy.stats import kendalltau

    from hwnas.pareto.predictor import AccuracyPredictor, describe_quality, predictor_quality
    from hwnas.spaces import make_space

    space = make_space("nb201", init_channels=4, layers=1, input_size=8)
    rng = np.random.default_rng(0)
    x = np.stack([space.encode(space.sample(rng)) for _ in range(12)])
    accuracy = 50 + np.log1p(space.params.many(x))  # size decides: a ranking the predictor can learn
    predictor = AccuracyPredictor(space, trees=50).fit(x, accuracy)
    backwards = predictor_quality(predictor, lambda v: np.log1p(space.params.many(v)), "size backwards")
    assert backwards["trained"] == 12 and backwards["default_kendall_tau"] == pytest.approx(-1.0)
    loo = predictor.cross_validated()
    assert backwards["kendall_tau_cv"] == pytest.approx(kendalltau(loo, accuracy).statistic)
    assert backwards["kendall_tau_cv"] > 0.5
    assert not any(line.startswith("warning") for line in describe_quality(backwards))
    perfect = predictor_quality(predictor, lambda v: -np.log1p(space.params.many(v)), "size")
    assert describe_quality(perfect)[-1].startswith("warning: the predictor ranks your trained genotypes worse")
    two = predictor_quality(AccuracyPredictor(space, trees=10).fit(x[:2], accuracy[:2]), lambda v: v[:, 0], "x")
    assert two["kendall_tau_cv"] is None and "too few" in describe_quality(two)[0]
