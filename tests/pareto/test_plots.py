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
