"""``hwnas pareto`` and ``hwnas plot``: multi-objective fronts over searched genotypes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwnas.cli.common import (COUNT, SEED, add_command, add_device_option, add_space_option, add_tables_option,
                              number, space_source)


def cmd_pareto(args: argparse.Namespace) -> int:
    """Accuracy / latency / size Pareto fronts with NSGA-II.

    NSGA-II (pymoo) over the space's integer genotypes, seeded with the searched genotypes of the
    given runs; error from the first run's supernet (one-shot, inherited weights with re-estimated
    BatchNorm) or from the NAS-Bench-201 table; latency from the device's table.
    """
    from hwnas.core.units import parse_count, parse_latency_ms
    from hwnas.device import resolve_device
    from hwnas.device.spec import with_precision
    from hwnas.pareto.nsga2 import check_settings, run_nsga2, write_result
    from hwnas.pareto.objectives import PRECISIONS, assemble, check_names
    from hwnas.spaces.genotypes import genotype_to_json
    from hwnas.table import load_table_for
    from hwnas.runs import searched_genotypes
    from hwnas.pareto.plots import plot_run
    from hwnas.spaces import make_space

    names = args.objectives
    check_names(names)
    check_settings(args.pop_size, args.evaluations)
    genotypes = searched_genotypes(args.runs)
    space_name = space_source(args.space, genotypes)
    benchmark, error, table = None, None, None
    if args.workers:
        if args.benchmark or not args.runs:
            raise ValueError("--workers spreads the error estimate of search runs over Ray workers; without runs, "
                             "or with --benchmark (a table lookup), there is nothing to spread: leave it out")
        from hwnas.pareto.ray_workers import require_ray

        require_ray()  # before any work: say what to install
    if args.benchmark == "nb201":
        if space_name != "nb201":
            raise ValueError("--benchmark nb201 needs the nb201 space")
        from hwnas.pareto.nb201_bench import NB201Benchmark

        bench = NB201Benchmark(args.benchmark_file) if args.benchmark_file else NB201Benchmark()
        benchmark = bench.objectives([n for n in names if n != "latency"], dataset=args.benchmark_dataset)
        space = make_space("nb201")
    elif args.runs:
        from hwnas.pareto.estimates import error_from_run

        space, error = error_from_run(args.runs[0], args.error_estimate, val_images=args.val_images, seed=args.seed,
                                      needed="error" in names and not args.workers, trained=args.trained)
        if args.workers and "error" in names:
            from hwnas.pareto.ray_workers import EstimateRecipe, RayEvaluator

            error = RayEvaluator(EstimateRecipe(args.runs[0], args.error_estimate, args.val_images, args.seed,
                                                tuple(args.trained)), args.workers, args.ray_address)
            print(f"error estimates ({args.error_estimate}) on {args.workers} Ray workers"
                  f"{f' at {args.ray_address}' if args.ray_address else ' on this machine'}")
    else:
        space = make_space(space_name)
    device_spec = resolve_device(args.device)
    if "latency" in names or args.latency_budget:
        table = load_table_for(args.device, space, tables_dir=args.tables_dir)
    tables_at = {p: load_table_for(with_precision(args.device, p), space, tables_dir=args.tables_dir)
                 for p in PRECISIONS if f"latency_{p}" in names}
    budget_ms = parse_latency_ms(args.latency_budget) if args.latency_budget else None
    if budget_ms is not None:
        low, high = table.costs().range()
        if budget_ms < low:  # NSGA-II would search for nothing and print an empty front
            raise ValueError(f"--latency-budget {args.latency_budget}: no network of this space keeps it; the cheapest "
                             f"takes {low:.3f} ms on {table.device_id} (the dearest {high:.3f} ms)")
    objectives = assemble(names, space, error=error, table=table, benchmark=benchmark, latency_budget_ms=budget_ms,
                          param_budget=parse_count(args.param_budget) if args.param_budget else None,
                          precision=device_spec.precision, tables_at=tables_at)
    device = table.device_id if table is not None else (device_spec.table_id if tables_at else None)
    out_dir = Path(args.out) if args.out else (Path(args.runs[0]) if args.runs else Path("runs") / "pareto")
    out_dir.mkdir(parents=True, exist_ok=True)

    def progress(row: dict) -> None:
        print(f"generation {row['generation']:3d}: {row['evaluations']:5d} evaluations, front {row['front_size']:3d}, "
              f"hypervolume {row['hypervolume']:.4g}", flush=True)

    initial = [space.encode(g) for g in genotypes]
    try:
        result = run_nsga2(space, objectives, pop_size=args.pop_size, evaluations=args.evaluations, seed=args.seed,
                           initial=initial, progress=progress)
    finally:
        if hasattr(error, "close"):
            error.close()
    estimate = None if "error" not in names else "nb201" if args.benchmark else args.error_estimate
    write_result(result, out_dir, space, names, device=device, benchmark=args.benchmark, error_estimate=estimate,
                 seed=args.seed, workers=args.workers, trained=args.trained,
                 pop_size=args.pop_size, evaluations=args.evaluations,
                 searched=[genotype_to_json(g) for g in genotypes], runs=args.runs)
    if result.front.empty:  # the constraints left no feasible network among those evaluated
        raise ValueError(f"no evaluated network keeps the constraints ({len(result.evaluated)} evaluated; written to "
                         f"{out_dir}); loosen --latency-budget / --param-budget or raise --evaluations")
    plots = plot_run(out_dir)
    print(f"\nPareto front ({len(result.front)} genotypes, {len(result.evaluated)} evaluated):")
    print(result.front[names].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwrote {out_dir / 'pareto.csv'}, evaluated.csv, history.csv and {len(plots)} plot files")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Redraw the plots of a Pareto run directory.

    Reads pareto.csv, evaluated.csv, history.csv and pareto.json; writes the plots beside them.
    """
    from hwnas.pareto.plots import plot_run

    written = plot_run(args.run_dir)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def register(sub: Any) -> None:
    from hwnas.pareto.objectives import DEFAULT_ESTIMATE, ESTIMATES, OBJECTIVES

    p = add_command(sub, "pareto", cmd_pareto)
    p.add_argument("runs", nargs="*", help="search run directories (runs/NAME)")
    add_space_option(p, help="space, when no runs are given")
    p.add_argument("--objectives", nargs="+", default=["error", "latency", "params"],
                   help=f"two or more of {', '.join(OBJECTIVES)} (error latency params)")
    p.add_argument("--benchmark", choices=["nb201"], help="tabular error (and latencies) from NAS-Bench-201")
    p.add_argument("--benchmark-file", help="path of nb201.csv (default: ../shared/data/nb201/nb201.csv)")
    p.add_argument("--benchmark-dataset", default="cifar10", choices=["cifar10", "cifar100", "imagenet16_120"])
    add_device_option(p, "device whose latency table gives 'latency' (cpu)")
    add_tables_option(p)
    p.add_argument("--latency-budget", help="constraint: table latency at most this, e.g. 10ms")
    p.add_argument("--param-budget", help="constraint: parameters at most this, e.g. 1.5M")
    p.add_argument("--pop-size", type=number(int, 2), default=40, help="population (40)")
    p.add_argument("--evaluations", type=COUNT, default=1000, help="distinct genotypes to evaluate (1000)")
    p.add_argument("--error-estimate", choices=ESTIMATES, default=DEFAULT_ESTIMATE,
                   help=f"with search runs, what ranks genotypes by accuracy: the supernet's inherited weights "
                   f"(one-shot), a zero-cost score of the untrained network ({DEFAULT_ESTIMATE}: the best ranking "
                   f"measured on NAS-Bench-201, scripts/bench_estimators.py), or a predictor fitted on genotypes "
                   f"you trained (predictor, with --trained)")
    p.add_argument("--trained", nargs="+", default=[], metavar="RUN",
                   help="--error-estimate predictor: training run folders (hwnas train) whose genotypes and test "
                   "accuracies fit the predictor (two or more)")
    p.add_argument("--val-images", type=COUNT, default=512, help="one-shot: validation images per genotype (512)")
    p.add_argument("--seed", type=SEED, default=0, help="seed (0)")
    p.add_argument("--workers", type=number(int, 0), default=0, metavar="N",
                   help="compute the error estimates on N Ray workers, one core each (0: in this process); needs "
                   "pip install 'hwnas[ray]'")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --workers: an existing Ray cluster, e.g. 'auto' or ray://head:10001 (default: a local "
                   "one started for this run); its nodes need hwnas and the run's data")
    p.add_argument("--out", help="output folder (default: the first run directory)")

    p = add_command(sub, "plot", cmd_plot)
    p.add_argument("run_dir", help="a folder holding pareto.csv, evaluated.csv, history.csv, pareto.json")
