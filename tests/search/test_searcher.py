import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.utils.data import TensorDataset

from hwnas.core.data import make_loader
from hwnas.spaces.genotypes import genotype_to_json
from hwnas.search.config import SearchConfig
from hwnas.runs import Interrupted
from hwnas.search.searcher import Searcher
from hwnas.spaces import make_space

TINY = {"darts": dict(init_channels=4, layers=3, input_size=8, in_channels=1),
        "nb201": dict(init_channels=4, layers=1, input_size=8, in_channels=1),
        "fbnet": dict(input_size=8, in_channels=1, num_classes=10),
        "mbv3": dict(input_size=8, in_channels=1)}


def data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def searcher(tmp_path, space="nb201", dtype=None, **cfg):
    config = SearchConfig(space=space, epochs=cfg.pop("epochs", 1), batch_size=cfg.pop("batch_size", 8), **cfg)
    proxy = make_space(space, **TINY[space])
    return Searcher(config, proxy, proxy, data(seed=1), data(seed=2), tmp_path / "run",
                    params=proxy.params, make_loader=make_loader)


@pytest.mark.parametrize("with_momentum", [False, True])
def test_second_order_gradient_matches_autograd(tmp_path, with_momentum):
    torch.set_default_dtype(torch.float64)
    try:
        # a small finite-difference radius: in float64 the central difference is then exact to ~1e-8
        s = searcher(tmp_path, "nb201", optimizer="second", unrolled_lr=0.1, hessian_radius=1e-5)
        xt, yt = next(iter(make_loader(s.train_set, 8, shuffle=False)))
        xv, yv = next(iter(make_loader(s.val_set, 8, shuffle=False)))
        xt, xv = xt.double(), xv.double()
        s.net.double()
        s.arch.double()
        params = dict(s.net.named_parameters())
        buffers = {k: v.clone() for k, v in s.net.named_buffers()}
        moment = {n: torch.zeros_like(p) for n, p in params.items()}
        if with_momentum:  # after a weight step SGD holds a momentum buffer v: the virtual step adds m * v
            gen = torch.Generator().manual_seed(0)
            for n, p in params.items():
                s.w_opt.state[p]["momentum_buffer"] = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                moment[n] = s.cfg.w_momentum * s.w_opt.state[p]["momentum_buffer"]
        # exact: d/d alpha of L_val(w - xi * (m * v + grad_w L_train(w, alpha) + wd * w), alpha)
        weights = s.arch.weights("softmax")
        lt = F.cross_entropy(functional_call(s.net, {**params, **buffers}, (xt, weights)), yt)
        grads = torch.autograd.grad(lt, list(params.values()), create_graph=True)
        unrolled = {n: p - 0.1 * (moment[n] + g + s.cfg.w_weight_decay * p) for (n, p), g in zip(params.items(), grads)}
        lv = F.cross_entropy(functional_call(s.net, {**unrolled, **buffers}, (xv, weights)), yv)
        exact = torch.autograd.grad(lv, list(s.arch.parameters()))
        s._second_order_grads(xv, yv, xt, yt)
        approx = [a.grad for a in s.arch.parameters()]
        for e, a in zip(exact, approx):
            assert torch.allclose(a, e, rtol=1e-3, atol=1e-6), (a - e).abs().max()
    finally:
        torch.set_default_dtype(torch.float32)


RELAXATIONS = [("softmax", "first"), ("softmax", "second"), ("softmax", "one-level"), ("gumbel", "first"),
               ("gdas", "first"), ("gdas", "one-level")]


# mbv3 (four groups of architecture weights) with GDAS only: each of its softmax steps takes 10 s
@pytest.mark.parametrize("space,relax,optimizer", [(space, *r) for space in ("darts", "nb201", "fbnet") for r in RELAXATIONS]
                         + [("mbv3", "gdas", "first"), ("mbv3", "gdas", "one-level")])
def test_every_relaxation_and_optimizer_runs_two_steps(tmp_path, space, relax, optimizer):
    s = searcher(tmp_path, space, relax=relax, optimizer=optimizer, batch_size=16)
    before = {k: v.detach().clone() for k, v in s.arch.alphas.items()}
    result = s.run()
    assert len(result.metrics) == 1 and s.step_in_epoch == 0 and s.epoch == 1
    assert any(not torch.equal(before[k], v) for k, v in s.arch.alphas.items())
    assert (tmp_path / "run" / "genotype.json").is_file() and (tmp_path / "run" / "metrics.csv").is_file()


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    full = searcher(tmp_path / "a", "darts", epochs=2, relax="gdas")
    expected = full.run()
    interrupted = searcher(tmp_path / "b", "darts", epochs=2, relax="gdas")
    calls = []

    def stop_after_three(stats):
        calls.append(stats)
        if len(calls) == 3:  # mid-way through epoch 2
            interrupted.stop.requested = True

    with pytest.raises(Interrupted, match="--resume"):
        interrupted.run(progress=stop_after_three)
    resumed = searcher(tmp_path / "b", "darts", epochs=2, relax="gdas")
    result = resumed.run(resume=True)
    assert result.genotype == expected.genotype
    for k in full.arch.alphas:
        assert torch.equal(full.arch.alphas[k], resumed.arch.alphas[k])
    assert list(result.metrics["val_loss"]) == pytest.approx(list(expected.metrics["val_loss"]))
    # the interrupted epoch's training loss averages all its steps, before and after the resume
    assert list(result.metrics["train_loss"]) == pytest.approx(list(expected.metrics["train_loss"]))


def test_resume_with_other_settings_is_refused(tmp_path):
    s = searcher(tmp_path, "nb201")
    s.run()
    other = searcher(tmp_path, "nb201", seed=5)
    with pytest.raises(ValueError, match="seed"):
        other.run(resume=True)


def test_recomputed_cells_give_the_same_step(tmp_path):
    """Checkpointing cells changes memory, not the mathematics (gradients and BN statistics)."""
    results = []
    for cells in (0, 3):
        torch.manual_seed(0)
        s = searcher(tmp_path / str(cells), "darts", checkpoint_cells=cells)
        x, y = next(iter(make_loader(s.train_set, 8, shuffle=False)))
        s._arch_step(x, y, x, y)
        s._weight_step(x, y, arch_too=False)
        results.append((s.arch.alphas["normal"].detach().clone(), [p.detach().clone() for p in s.net.parameters()],
                        [b.clone() for n, b in s.net.named_buffers() if "running" in n]))
    (a0, p0, b0), (a1, p1, b1) = results
    assert torch.allclose(a0, a1, atol=1e-6)
    assert all(torch.allclose(u, v, atol=1e-5) for u, v in zip(p0, p1))
    assert all(torch.allclose(u, v, atol=1e-6) for u, v in zip(b0, b1))


def test_budget_hinge_takes_the_derived_networks_value_and_the_expectations_gradient(tmp_path):
    s = searcher(tmp_path, "nb201", budget_penalty=True)
    derived = s.derived_costs(s.derive())["derived_params"]
    s.cfg.param_budget = int(derived / 2)
    loss = s._penalised(torch.tensor(0.0))
    assert float(loss.detach()) == pytest.approx(derived / s.cfg.param_budget - 1.0, rel=1e-6)
    loss.backward()
    e_params = s.params.expected(s.arch.probs())
    expected_grads = torch.autograd.grad(e_params / s.cfg.param_budget, list(s.arch.parameters()))
    for alpha, g in zip(s.arch.parameters(), expected_grads):
        assert torch.allclose(alpha.grad, g)
    s.cfg.param_budget = int(derived * 2)  # the derived network keeps the budget: no penalty
    assert float(s._penalised(torch.tensor(0.0)).detach()) == 0.0


def test_a_listable_space_keeps_its_budget_by_derivation_not_by_penalty(tmp_path):
    import numpy as np

    from hwnas.search.repair import every_vector

    free = searcher(tmp_path / "free", "nb201", epochs=2)
    assert not free.penalise_budgets and searcher(tmp_path / "darts", "darts").penalise_budgets
    free_result = free.run()
    every = every_vector(free.final)
    params = free.final.params.many(every)
    free_params = float(free.final.params.many(free.final.encode(free_result.genotype)[None])[0])
    budget = int(min(np.quantile(params, 0.2), free_params - 1))  # the derived cell breaks it
    tight = searcher(tmp_path / "tight", "nb201", epochs=2, param_budget=budget)
    assert float(tight._penalised(torch.tensor(1.5))) == 1.5  # no penalty in the architecture loss
    result = tight.run()
    # the same architecture weights as without the budget; the budget is kept by the derivation
    assert all(torch.equal(a, b) for a, b in zip(tight.arch.parameters(), free.arch.parameters()))
    kept = float(tight.final.params.many(tight.final.encode(result.genotype)[None])[0])
    assert kept <= budget and result.repaired
    # each epoch logs the cell within the budget, as the run returns it at its end
    assert (result.metrics["derived_params"] <= budget).all()
    assert result.metrics["genotype"].iloc[-1] == genotype_to_json(result.genotype)
    probs = tight.arch.numpy_probs()
    capped = (every == tight.final.ops.index("skip_connect")).sum(1) <= 2
    best = max((v for v, ok in zip(every, (params <= budget) & capped) if ok),
               key=lambda v: tight.final.choice_score(tight.final.decode(v), probs))
    assert np.array_equal(tight.final.encode(result.genotype), best)


def test_multipliers_double_over_budget_and_relax_within_it(tmp_path):
    s = searcher(tmp_path, "nb201", param_budget=1000)
    s.multipliers.adapt(s.cfg, {"derived_params": 2000.0})
    s.multipliers.adapt(s.cfg, {"derived_params": 2000.0})
    assert s.multipliers.params == 4.0
    s.multipliers.adapt(s.cfg, {"derived_params": 500.0})
    assert s.multipliers.params == 2.0
    for _ in range(3):
        s.multipliers.adapt(s.cfg, {"derived_params": 500.0})
    assert s.multipliers.params == 1.0


