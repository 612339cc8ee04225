from hwnas.pareto.nsga2 import run_nsga2
from hwnas.spaces import make_space

SPACE = make_space("nb201", init_channels=4, layers=1, input_size=8)


def test_plots_are_written_and_non_empty_offline(tmp_path, toy_objectives):
    from hwnas.pareto.nsga2 import write_result
    from hwnas.pareto.plots import plot_run

    objectives = toy_objectives()
    objectives.functions["params"] = SPACE.params.many
    result = run_nsga2(SPACE, objectives, pop_size=10, evaluations=40, seed=0)
    write_result(result, tmp_path, SPACE, objectives.names, device="cpu", searched=[])
    written = plot_run(tmp_path)
    names = {p.name for p in written}
    assert {"hypervolume.png", "hypervolume.svg", "front_f1_vs_f2.png", "front_f2_vs_params.svg"} <= names
    assert all(p.stat().st_size > 1000 for p in written)
    assert not list(tmp_path.glob(".*.tmp"))


def test_each_pair_has_its_own_front_and_the_searched_genotype_its_place():
    import pandas as pd

    from hwnas.pareto.plots import beaten_by, feasible, pair_front, readable

    frame = pd.DataFrame({"error": [1.0, 2.0, 3.0, 2.5, 3.0], "latency": [3.0, 2.0, 1.0, 2.5, 3.0],
                          "params": [5.0, 1.0, 1.0, 0.5, 9.0], "constraint_latency": [0, 0, 0, 0, 1.0]})
    ok = feasible(frame)
    assert list(ok.index) == [0, 1, 2, 3]  # the last breaks its constraint
    assert list(pair_front(ok, "error", "latency").index) == [2, 1, 0]  # sorted by latency; row 3 is beaten by row 1
    assert beaten_by(ok, "error", "latency", frame.loc[3]) == 1 and beaten_by(ok, "error", "latency", frame.loc[1]) == 0
    # a zero-cost score is shown as the share of evaluated genotypes ranked better; other objectives as they are
    ranks = readable(frame, "naswot")(frame, "error")
    assert list(ranks) == [0.0, 20.0, 60.0, 40.0, 60.0]
    assert list(readable(frame, "one-shot")(frame, "error")) == list(frame["error"])
