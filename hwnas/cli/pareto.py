"""``hwnas pareto`` and ``hwnas plot``: multi-objective fronts over searched genotypes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List

from hwnas.cli.common import add_space_option

OBJECTIVES = ("error", "latency", "params", "flops", "latency_fpga", "latency_raspi4", "latency_eyeriss",
              "latency_pixel3")


def _searched_genotypes(run_dirs: List[str]):
    from hwnas.core.genotype import load_genotype

    genotypes = []
    for run in run_dirs:
        path = Path(run) / "genotype.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {run} a finished search run directory?")
        genotypes.append(load_genotype(path))
    spaces = {g.space for g in genotypes}
    if len(spaces) > 1:
        raise ValueError(f"the runs hold genotypes of different spaces ({', '.join(sorted(spaces))}); a front is "
                         f"over one space: pass runs of one space")
    return genotypes


def cmd_pareto(args: argparse.Namespace) -> int:
    from hwnas.core.genotype import genotype_to_json
    from hwnas.pareto.nsga2 import Objectives, run_nsga2, write_result
    from hwnas.pareto.plots import plot_run
    from hwnas.spaces import make_space
    from hwnas.core.units import parse_count, parse_latency_ms

    names = args.objectives
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown or len(names) < 2 or len(set(names)) < len(names):
        raise ValueError(f"--objectives takes two or more different ones of {', '.join(OBJECTIVES)}; got "
                         f"{' '.join(names)}")
    if args.pop_size < 2 or args.evaluations < args.pop_size:
        raise ValueError(f"--evaluations ({args.evaluations}) must be at least --pop-size ({args.pop_size}), and the "
                         f"population at least 2: NSGA-II evaluates a whole first generation")
    genotypes = _searched_genotypes(args.runs)
    space_name = genotypes[0].space if genotypes else args.space
    if genotypes and args.space and args.space != space_name:
        raise ValueError(f"--space {args.space} does not match the runs' genotypes, which are of space {space_name}")
    if not space_name:
        raise ValueError("give search run directories or --space")
    functions: Dict[str, Any] = {}
    device = None
    if args.benchmark == "nb201":
        if space_name != "nb201":
            raise ValueError("--benchmark nb201 needs the nb201 space")
        from hwnas.pareto.nb201_bench import NB201Benchmark

        bench = NB201Benchmark(args.benchmark_file) if args.benchmark_file else NB201Benchmark()
        functions.update(bench.objectives([n for n in names if n != "latency"], dataset=args.benchmark_dataset))
        space = make_space("nb201")
    elif args.runs:
        from hwnas.core.data import load_splits, make_loader
        from hwnas.pareto.oneshot import OneShotEvaluator, load_search_supernet
        from hwnas.search.setup import spaces_for

        proxy, supernet, cfg = load_search_supernet(args.runs[0])
        splits = load_splits(cfg.dataset, data_dir=cfg.data_dir, val_fraction=cfg.val_fraction, seed=cfg.seed,
                             limit=cfg.limit, image_size=cfg.image_size)
        _, space = spaces_for(cfg, splits.info.input_size, splits.info.in_channels, splits.info.num_classes)
        if "error" in names:
            functions["error"] = OneShotEvaluator(proxy, supernet, splits.train, splits.val, make_loader,
                                                  val_images=args.val_images, seed=args.seed)
    elif "error" in names:
        raise ValueError("an error estimate needs search runs (one-shot, from the first run's supernet) or "
                         "--benchmark nb201")
    else:
        space = make_space(space_name)
    if "latency" in names or args.latency_budget:
        from hwnas.table import load_table_for

        table = load_table_for(args.device, space, tables_dir=args.tables_dir)
        device = table.device_id
        if "latency" in names:
            functions["latency"] = table.predict_many
    if ("params" in names or args.param_budget) and "params" not in functions:
        functions["params"] = space.params_many
    if "flops" in names and "flops" not in functions:
        functions["flops"] = space.flops_many
    missing = [n for n in names if n not in functions]
    if missing:
        raise ValueError(f"objective(s) {', '.join(missing)} need --benchmark nb201 (the benchmark's device "
                         f"latencies)")
    constraints = {}
    if args.latency_budget:
        budget = parse_latency_ms(args.latency_budget)
        constraints["latency"] = lambda x: table.predict_many(x) - budget
    if args.param_budget:
        p_budget = parse_count(args.param_budget)
        constraints["params"] = lambda x: functions["params"](x) - p_budget
    objectives = Objectives({n: functions[n] for n in names}, constraints)
    out_dir = Path(args.out) if args.out else (Path(args.runs[0]) if args.runs else Path("runs") / "pareto")
    out_dir.mkdir(parents=True, exist_ok=True)

    def progress(row: dict) -> None:
        print(f"generation {row['generation']:3d}: {row['evaluations']:5d} evaluations, front {row['front_size']:3d}, "
              f"hypervolume {row['hypervolume']:.4g}", flush=True)

    initial = [space.encode(g) for g in genotypes]
    result = run_nsga2(space, objectives, pop_size=args.pop_size, evaluations=args.evaluations, seed=args.seed,
                       initial=initial, progress=progress)
    write_result(result, out_dir, space, names, device=device, benchmark=args.benchmark, seed=args.seed,
                 pop_size=args.pop_size, evaluations=args.evaluations,
                 searched=[genotype_to_json(g) for g in genotypes], runs=args.runs)
    plots = plot_run(out_dir)
    print(f"\nPareto front ({len(result.front)} genotypes, {len(result.evaluated)} evaluated):")
    print(result.front[names].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwrote {out_dir / 'pareto.csv'}, evaluated.csv, history.csv and {len(plots)} plot files")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from hwnas.pareto.plots import plot_run

    written = plot_run(args.run_dir)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("pareto", help="accuracy / latency / size Pareto fronts with NSGA-II",
                       description="NSGA-II (pymoo) over the space's integer genotypes, seeded with the searched "
                       "genotypes of the given runs; error from the first run's supernet (one-shot, inherited weights "
                       "with re-estimated BatchNorm) or from the NAS-Bench-201 table; latency from the device's table.")
    p.add_argument("runs", nargs="*", help="search run directories (runs/NAME)")
    add_space_option(p, help="space, when no runs are given")
    p.add_argument("--objectives", nargs="+", default=["error", "latency", "params"],
                   help=f"two or more of {', '.join(OBJECTIVES)} (error latency params)")
    p.add_argument("--benchmark", choices=["nb201"], help="tabular error (and latencies) from NAS-Bench-201")
    p.add_argument("--benchmark-file", help="path of nb201.csv (default: ../shared/data/nb201/nb201.csv)")
    p.add_argument("--benchmark-dataset", default="cifar10", choices=["cifar10", "cifar100", "imagenet16_120"])
    p.add_argument("--device", default="cpu", help="device whose latency table gives 'latency' (cpu)")
    p.add_argument("--tables-dir", help="folder of latency tables (default: the shipped latency_tables/)")
    p.add_argument("--latency-budget", help="constraint: table latency at most this, e.g. 10ms")
    p.add_argument("--param-budget", help="constraint: parameters at most this, e.g. 1.5M")
    p.add_argument("--pop-size", type=int, default=40, help="population (40)")
    p.add_argument("--evaluations", type=int, default=1000, help="distinct genotypes to evaluate (1000)")
    p.add_argument("--val-images", type=int, default=512, help="one-shot: validation images per genotype (512)")
    p.add_argument("--seed", type=int, default=0, help="seed (0)")
    p.add_argument("--out", help="output folder (default: the first run directory)")
    p.set_defaults(func=cmd_pareto)

    p = sub.add_parser("plot", help="(re)draw the plots of a Pareto run directory")
    p.add_argument("run_dir", help="a folder holding pareto.csv, evaluated.csv, history.csv, pareto.json")
    p.set_defaults(func=cmd_plot)
