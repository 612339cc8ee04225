import json

import numpy as np
import pandas as pd
import pytest

from hwnas.cli import main
from hwnas.core.genotype import NB201Genotype, PUBLISHED, genotype_from_dict, save_genotype
from hwnas.pareto.nsga2 import run_nsga2
from hwnas.pareto.objectives import Objectives
from hwnas.spaces import make_space

SPACE = make_space("nb201", init_channels=4, layers=1, input_size=8)


def toy_objectives():
    """A tabular toy with a known front: f1 + f2 = 8 exactly when edges 2..5 are `none`."""
    def f1(x):
        return (x[:, 0] + x[:, 1]).astype(float)

    def f2(x):
        return (8 - x[:, 0] - x[:, 1]) + 10.0 * (x[:, 2:] != 0).sum(axis=1)

    return Objectives({"f1": f1, "f2": f2})


def test_finds_the_known_front_exactly():
    result = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=400, seed=0)
    points = {tuple(p) for p in result.front[["f1", "f2"]].to_numpy().tolist()}
    assert points == {(float(k), float(8 - k)) for k in range(9)}


def test_offspring_are_valid_and_counted_once():
    result = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=200, seed=1)
    vectors = np.array([list(map(int, v.split())) for v in result.evaluated["vector"]])
    lower, upper = SPACE.bounds
    assert np.all(vectors >= lower) and np.all(vectors <= upper)
    assert len({tuple(v) for v in vectors}) == len(vectors) >= 200
    for v, text in zip(vectors[:20], result.evaluated["genotype"][:20]):
        assert SPACE.decode(v).to_dict() == json.loads(text)
    assert (result.history["evaluations"].diff().dropna() >= 0).all()


def test_same_seed_same_front_and_seeding():
    seed_vec = SPACE.encode(NB201Genotype.from_ops(["none"] * 6))
    a = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=100, seed=3, initial=[seed_vec])
    b = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=100, seed=3, initial=[seed_vec])
    pd.testing.assert_frame_equal(a.front, b.front)
    assert a.evaluated["vector"].iloc[0] == " ".join(map(str, seed_vec))


def test_constraints_exclude_infeasible_from_the_front():
    objectives = toy_objectives()
    objectives.constraints["f1_at_most_4"] = lambda x: (x[:, 0] + x[:, 1]) - 4.0
    result = run_nsga2(SPACE, objectives, pop_size=20, evaluations=300, seed=0)
    assert result.front["f1"].max() <= 4


def test_nb201_table_objectives(nb201_csv):
    from hwnas.pareto.nb201_bench import NB201Benchmark

    bench = NB201Benchmark(nb201_csv)
    df = pd.read_csv(nb201_csv).sample(20, random_state=0)
    space = make_space("nb201")
    x = np.stack([space.encode(NB201Genotype(a)) for a in df["arch_str"]])
    objectives = bench.objectives(["error", "latency_pixel3", "params"])
    np.testing.assert_allclose(objectives["error"](x), 100 - df["test_acc_cifar10"].to_numpy())
    np.testing.assert_allclose(objectives["latency_pixel3"](x), df["latency_ms_pixel3"].to_numpy())
    np.testing.assert_allclose(objectives["params"](x), df["params_cifar10"].to_numpy())


def test_cli_pareto_nb201_writes_csvs_and_plots(nb201_csv, tmp_path, capsys):
    out = tmp_path / "front"
    assert main(["pareto", "--space", "nb201", "--benchmark", "nb201", "--benchmark-file", str(nb201_csv),
                 "--objectives", "error", "latency_raspi4", "params", "--evaluations", "120", "--out", str(out)]) == 0
    for name in ("pareto.csv", "evaluated.csv", "history.csv", "pareto.json", "hypervolume.png", "hypervolume.svg",
                 "front_error_vs_latency_raspi4.png", "front_error_vs_params.svg"):
        assert (out / name).stat().st_size > 0, name
    front = pd.read_csv(out / "pareto.csv")
    assert {"error", "latency_raspi4", "params", "genotype"} <= set(front.columns)
    assert "Pareto front" in capsys.readouterr().out


def test_runs_of_different_spaces_are_refused(tmp_path, capsys):
    for name, genotype in (("a", PUBLISHED["darts_v2"]), ("b", PUBLISHED["fbnet_a"])):
        (tmp_path / name).mkdir()
        save_genotype(genotype, tmp_path / name / "genotype.json")
    assert main(["pareto", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "different spaces" in capsys.readouterr().err


def test_benchmark_needs_nb201_space(tmp_path, capsys):
    assert main(["pareto", "--space", "darts", "--benchmark", "nb201"]) == 2
    assert "needs the nb201 space" in capsys.readouterr().err


def test_plots_are_written_and_non_empty_offline(tmp_path):
    from hwnas.pareto.nsga2 import write_result
    from hwnas.pareto.plots import plot_run

    objectives = toy_objectives()
    objectives.functions["params"] = SPACE.params_many
    result = run_nsga2(SPACE, objectives, pop_size=10, evaluations=40, seed=0)
    write_result(result, tmp_path, SPACE, objectives.names, device="cpu", searched=[])
    written = plot_run(tmp_path)
    names = {p.name for p in written}
    assert {"hypervolume.png", "hypervolume.svg", "front_f1_vs_f2.png", "front_f2_vs_params.svg"} <= names
    assert all(p.stat().st_size > 1000 for p in written)
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_pareto_latency_and_flops_need_no_search_run(tmp_path, capsys):
    out = tmp_path / "front"
    assert main(["pareto", "--space", "darts", "--objectives", "latency", "flops", "--pop-size", "10",
                 "--evaluations", "30", "--out", str(out)]) == 0
    front = pd.read_csv(out / "pareto.csv")
    space = make_space("darts")
    x = np.stack([space.encode(genotype_from_dict(json.loads(g))) for g in front["genotype"]])
    np.testing.assert_allclose(front["flops"], space.flops_many(x))


@pytest.mark.parametrize("extra,match", [
    (["--objectives", "latency", "latency"], "two or more different"),
    (["--objectives", "latency", "flops", "--evaluations", "0"], "must be at least --pop-size"),
])
def test_pareto_refuses_settings_that_cannot_run(tmp_path, capsys, extra, match):
    from hwnas.cli import main

    code = main(["pareto", "--space", "darts", "--out", str(tmp_path / "p"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0]


def test_one_shot_reads_only_search_checkpoints_of_this_format(tmp_path):
    import torch

    from hwnas.pareto.oneshot import load_search_supernet

    (tmp_path / "config.json").write_text(json.dumps({"format_version": 1, "proxy": SPACE.config(), "search": {}}))
    torch.save({"format_version": 1, "supernet": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="checkpoint format 1, this hwnas reads 2"):
        load_search_supernet(tmp_path)
