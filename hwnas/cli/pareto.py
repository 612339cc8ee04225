"""``hwnas pareto`` and ``hwnas plot``: multi-objective fronts over searched genotypes."""

from __future__ import annotations

import argparse
from typing import Any

from hwnas.cli.common import COUNT, SEED, add_command, add_device_option, add_space_option, add_tables_option, number


def cmd_pareto(args: argparse.Namespace) -> int:
    """Accuracy / latency / size Pareto fronts with NSGA-II.

    NSGA-II (pymoo) over the space's integer genotypes, seeded with the searched genotypes of the
    given runs; error from the first run's supernet (one-shot, inherited weights with re-estimated
    BatchNorm) or from the NAS-Bench-201 table; latency from the device's table.
    """
    from hwnas import api

    result = api.pareto(args.runs, space=args.space, objectives=args.objectives, device=args.device,
                        tables_dir=args.tables_dir, benchmark=args.benchmark, benchmark_file=args.benchmark_file,
                        benchmark_dataset=args.benchmark_dataset, latency_budget=args.latency_budget,
                        param_budget=args.param_budget, pop_size=args.pop_size, evaluations=args.evaluations,
                        error_estimate=args.error_estimate, trained=args.trained, val_images=args.val_images,
                        seed=args.seed, workers=args.workers, ray_address=args.ray_address, out=args.out,
                        say=lambda line: print(line, flush=True))
    names = args.objectives
    print(f"\nPareto front ({len(result.front)} genotypes, {len(result.evaluated)} evaluated):")
    print(result.front[names].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwrote {result.out_dir / 'pareto.csv'}, evaluated.csv, history.csv, {len(result.plots) - 1} plot files and "
          f"{result.plots[-1]} (interactive)")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Redraw the plots of a Pareto run directory.

    Reads pareto.csv, evaluated.csv, history.csv and pareto.json; writes the plots and report.html
    (interactive) beside them.
    """
    from hwnas.pareto.plots import plot_run
    from hwnas.pareto.report import write_report

    written = [*plot_run(args.run_dir), write_report(args.run_dir)]
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
