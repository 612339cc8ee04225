import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.utils.data import TensorDataset

from hwnas.core.data import make_loader
from hwnas.core.genotype import DARTS_OPS
from hwnas.search.arch import Architecture
from hwnas.search.config import SearchConfig
from hwnas.runs import Interrupted
from hwnas.search.searcher import Searcher
from hwnas.search.penalty import CostModel, params_model
from hwnas.spaces import make_space
from hwnas.spaces.darts import darts_edges
from hwnas.core.units import parse_count, parse_latency_ms

TINY = {"darts": dict(init_channels=4, layers=3, input_size=8, in_channels=1),
        "nb201": dict(init_channels=4, layers=1, input_size=8, in_channels=1),
        "fbnet": dict(input_size=8, in_channels=1, num_classes=10)}


def data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def searcher(tmp_path, space="nb201", dtype=None, **cfg):
    config = SearchConfig(space=space, epochs=cfg.pop("epochs", 1), batch_size=cfg.pop("batch_size", 8), **cfg)
    proxy = make_space(space, **TINY[space])
    return Searcher(config, proxy, proxy, data(seed=1), data(seed=2), tmp_path / "run",
                    params=params_model(proxy), make_loader=make_loader)


def fake_lookup(piece):
    return 0.0 if piece.op in ("none", "skip_connect", "skip") else 1.0 + piece.c_in * piece.size / 100


@pytest.mark.parametrize("text,ms", [("10ms", 10.0), ("10 ms", 10.0), ("0.01s", 10.0), ("500us", 0.5)])
def test_latency_budgets(text, ms):
    assert parse_latency_ms(text) == pytest.approx(ms)


@pytest.mark.parametrize("text,n", [("1.5M", 1_500_000), ("800k", 800_000), ("2500000", 2_500_000)])
def test_count_budgets(text, n):
    assert parse_count(text) == n


@pytest.mark.parametrize("bad", ["10", "fast", "10 mss", "-3ms", "0ms", "", "1e400ms", "inf ms"])
def test_bad_latency_budget(bad):
    with pytest.raises(ValueError, match="latency"):
        parse_latency_ms(bad)


def test_bad_count_budget():
    with pytest.raises(ValueError, match="800k"):
        parse_count("lots")
    for bad in ("1e99M", "0", "0.1"):
        with pytest.raises(ValueError, match="positive count below 1e15"):
            parse_count(bad)


def test_a_corrupt_search_checkpoint_is_one_line_on_resume(tmp_path, capsys):
    from hwnas.cli import main

    common = ["--runs-dir", str(tmp_path), "--name", "r", "--limit", "80", "--batch-size", "16", "--epochs", "1",
              "--init-channels", "4", "--layers", "3"]
    assert main(["search", *common]) == 0
    ckpt = tmp_path / "r" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # cut short, as by a full disk or a copy that stopped
    capsys.readouterr()
    assert main(["search", "--resume", *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{ckpt} is not a readable torch checkpoint" in err[0]


def test_darts_derivation_on_hand_made_alpha():
    space = make_space("darts", **TINY["darts"])
    w = np.full((len(darts_edges()), len(DARTS_OPS)), 0.01)
    edges = darts_edges()
    # node 0: edges from 0 and 1; make input 1 strong with sep_conv_5x5, input 0 with none (ignored) + avg_pool
    w[edges.index((0, 0)), DARTS_OPS.index("none")] = 0.9
    w[edges.index((0, 0)), DARTS_OPS.index("avg_pool_3x3")] = 0.05
    w[edges.index((0, 1)), DARTS_OPS.index("sep_conv_5x5")] = 0.8
    # node 3: inputs 3 and 4 strongest with skips -> skips capped at 2 overall in the normal cell
    for node, src in ((1, 2), (2, 3), (3, 4), (3, 1)):
        w[edges.index((node, src)), DARTS_OPS.index("skip_connect")] = 0.7
    g = space.derive({"normal": w, "reduce": w}, max_skip=None)
    assert g.normal[:2] == (("avg_pool_3x3", 0), ("sep_conv_5x5", 1))
    assert ("skip_connect", 4) in g.normal[6:] and ("skip_connect", 1) in g.normal[6:]
    assert sum(op == "skip_connect" for op, _ in g.normal) == 4
    capped = space.derive({"normal": w, "reduce": w}, max_skip=2)
    assert sum(op == "skip_connect" for op, _ in capped.normal) == 2
    assert sum(op == "skip_connect" for op, _ in capped.reduce) == 4  # the cap is for normal cells


def test_argmax_derivation_nb201_and_fbnet():
    nb = make_space("nb201", **TINY["nb201"])
    w = np.zeros((6, 5))
    w[np.arange(6), [3, 0, 1, 2, 4, 3]] = 1
    assert nb.derive({"cell": w}).ops == ("nor_conv_3x3", "none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3",
                                          "nor_conv_3x3")
    fb = make_space("fbnet", **TINY["fbnet"])
    w = np.zeros((22, 9))
    w[:, 8] = 1
    assert set(fb.derive({"layers": w}).ops) == {"skip"}


@pytest.mark.parametrize("name", ["darts", "nb201", "fbnet"])
def test_expected_latency_of_one_hot_alpha_equals_genotype_cost(name):
    """E[LAT] at a decided architecture equals the genotype's table latency (sum over its pieces)."""
    space = make_space(name, **TINY[name])
    model = CostModel(space, space.cost_arrays(fake_lookup))
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
        else:
            group, (_, candidates) = next(iter(space.arch_shapes().items()))
            probs[group] = F.one_hot(torch.tensor(space.encode(g)), candidates).float()
        assert float(model.expected(probs)) == pytest.approx(sum(fake_lookup(p) for p in space.pieces(g)), rel=1e-5)


@pytest.mark.parametrize("name", ["darts", "nb201", "fbnet"])
def test_latency_penalty_gradient_points_to_cheaper_networks(name):
    torch.manual_seed(0)
    space = make_space(name, **TINY[name])
    model = CostModel(space, space.cost_arrays(fake_lookup))
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
            cost = model.costs.choice[group]
            for e in range(cost.shape[0]):
                dear, cheap = int(cost[e].argmax()), int(cost[e].argmin())
                if cost[e, dear] > cost[e, cheap]:
                    assert alpha.grad[e, dear] > alpha.grad[e, cheap]


def test_second_order_gradient_matches_autograd(tmp_path):
    torch.set_default_dtype(torch.float64)
    try:
        # a small finite-difference radius: in float64 the central difference is then exact to ~1e-8
        s = searcher(tmp_path, "nb201", optimizer="second", unrolled_lr=0.1, hessian_radius=1e-5)
        xt, yt = next(iter(make_loader(s.train_set, 8, shuffle=False)))
        xv, yv = next(iter(make_loader(s.val_set, 8, shuffle=False)))
        xt, xv = xt.double(), xv.double()
        s.net.double()
        s.arch.double()
        # exact: d/d alpha of L_val(w - xi * (grad_w L_train(w, alpha) + wd * w), alpha)
        params = dict(s.net.named_parameters())
        buffers = {k: v.clone() for k, v in s.net.named_buffers()}
        weights = s.arch.weights("softmax")
        lt = F.cross_entropy(functional_call(s.net, {**params, **buffers}, (xt, weights)), yt)
        grads = torch.autograd.grad(lt, list(params.values()), create_graph=True)
        unrolled = {n: p - 0.1 * (g + s.cfg.w_weight_decay * p) for (n, p), g in zip(params.items(), grads)}
        lv = F.cross_entropy(functional_call(s.net, {**unrolled, **buffers}, (xv, weights)), yv)
        exact = torch.autograd.grad(lv, list(s.arch.parameters()))
        s._second_order_grads(xv, yv, xt, yt)
        approx = [a.grad for a in s.arch.parameters()]
        for e, a in zip(exact, approx):
            assert torch.allclose(a, e, rtol=1e-3, atol=1e-6), (a - e).abs().max()
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("relax,optimizer", [("softmax", "first"), ("softmax", "second"), ("softmax", "one-level"),
                                             ("gumbel", "first"), ("gdas", "first"), ("gdas", "one-level")])
@pytest.mark.parametrize("space", ["darts", "nb201", "fbnet"])
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


def test_config_errors():
    with pytest.raises(ValueError, match="needs --latency-budget"):
        SearchConfig(latency_loss="budget").validate()
    with pytest.raises(ValueError, match="relax"):
        SearchConfig(relax="hard").validate()
    with pytest.raises(ValueError, match="second-order"):
        SearchConfig(relax="gdas", optimizer="second").validate()


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
    s = searcher(tmp_path, "nb201")
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


def test_param_budget_below_the_smallest_network_is_an_error():
    from hwnas.search.setup import check_param_budget

    space = make_space("nb201", **TINY["nb201"])
    with pytest.raises(ValueError, match="below the smallest network of this space: [0-9,]+ parameters"):
        check_param_budget(space, SearchConfig(space="nb201", param_budget=10))
    check_param_budget(space, SearchConfig(space="nb201", param_budget=10**9))


@pytest.mark.parametrize("train,val,classes,batch,match", [
    (3, 3, 10, 64, "no step: the training split has 3 image"),
    (1000, 10, 10, 64, r"validation \(architecture step\) split has 10 image"),
    (1000, 1000, 1, 64, "1 class"),
])
def test_a_search_that_would_take_no_step_is_refused(train, val, classes, batch, match):
    from hwnas.search.setup import check_steps

    with pytest.raises(ValueError, match=match):
        check_steps(train, val, classes, batch)
    check_steps(1000, 1000, 10, 64)  # enough data: no error


def test_search_cli_refuses_limit_3_in_one_line(tmp_path, capsys):
    from hwnas.cli import main

    assert main(["search", "--limit", "3", "--epochs", "1", "--runs-dir", str(tmp_path), "--name", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "would take no step" in err[0] and "--batch-size" in err[0]
    assert not (tmp_path / "x" / "genotype.json").exists()


def test_an_unexpected_error_is_one_line_with_the_traceback_saved(monkeypatch, capsys):
    import hwnas.cli.search
    from hwnas.cli import main

    def broken(args):
        raise RuntimeError("something inside hwnas broke")

    monkeypatch.setattr(hwnas.cli.search, "cmd_search", broken)
    assert main(["search"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RuntimeError: something inside hwnas broke" in err[0] and "bug in hwnas" in err[0]
    path = err[0].split("traceback is in ")[1].split(";")[0]
    assert "Traceback" in open(path).read()
    with pytest.raises(RuntimeError):  # --verbose shows the traceback itself
        main(["--verbose", "search"])


def test_search_resume_refuses_flags_that_change_the_run(tmp_path, capsys):
    import json

    from hwnas.cli import main

    common = ["--runs-dir", str(tmp_path), "--name", "r", "--limit", "80", "--batch-size", "16"]
    assert main(["search", "--epochs", "1", "--init-channels", "4", "--layers", "3", *common]) == 0
    before = (tmp_path / "r" / "genotype.json").read_text()
    capsys.readouterr()
    code = main(["search", "--resume", "--space", "nb201", "--latency-budget", "1ms", "--epochs", "2", *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "--space sets space to 'nb201' (the run has 'darts')" in err[0] and "--epochs" in err[0]
    assert "--latency-budget" in err[0]
    assert (tmp_path / "r" / "genotype.json").read_text() == before
    # the run's own settings, given again or left out, resume
    assert main(["search", "--resume", "--epochs", "1", *common]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["search"]["epochs"] == 1


def test_a_missing_tables_dir_is_an_error_even_without_a_budget(tmp_path):
    from hwnas.search.setup import prepare

    with pytest.raises(FileNotFoundError, match="--tables-dir .* is not a folder"):
        prepare(SearchConfig(tables_dir=str(tmp_path / "nowhere"), limit=100), tmp_path / "run")


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import hwnas.core.fileio as fileio
    from hwnas.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "save_torch", full)
    code = main(["search", "--runs-dir", str(tmp_path), "--name", "r", "--limit", "80", "--batch-size", "16",
                 "--epochs", "1", "--init-channels", "4", "--layers", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err  # the progress bar's lines, then one line of error
    assert err.strip().splitlines()[-1] == "hwnas search: error: [Errno 28] No space left on device"
