"""Benchmark: NSGA-II vs random search on NAS-Bench-201 (tabular error, table latencies).

For CIFAR-10 error against each of the benchmark's four device latencies and against the
parameter count, the hypervolume reached after 200, 500 and 1000 evaluated genotypes, as a
share of the true front's hypervolume (computed exhaustively over all 15,625 cells), for
NSGA-II and for random search with the same number of evaluations, over several seeds.
Objectives are scaled to [0, 1] between the true front's ideal and nadir points; reference
point 1.1 (so points worse than the front's worst corner add nothing).

    python scripts/bench_pareto.py [--seeds 5] [--benchmark-file ../shared/data/nb201/nb201.csv]
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from hwnas.pareto.nb201_bench import NB201Benchmark
from hwnas.pareto.nsga2 import hypervolume, non_dominated, run_nsga2
from hwnas.pareto.objectives import Objectives
from hwnas.spaces import make_space

BUDGETS = (200, 500, 1000)


def hv_share(f: np.ndarray, lo: np.ndarray, hi: np.ndarray, true_hv: float) -> float:
    scaled = (f - lo) / (hi - lo)
    return hypervolume(scaled[non_dominated(scaled)], np.full(f.shape[1], 1.1)) / true_hv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pop-size", type=int, default=40)
    parser.add_argument("--benchmark-file")
    args = parser.parse_args()
    bench = NB201Benchmark(args.benchmark_file) if args.benchmark_file else NB201Benchmark()
    space = make_space("nb201")
    every = bench.all_vectors()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores; NAS-Bench-201, {len(every)} cells; {args.seeds} seeds; "
          f"NSGA-II population {args.pop_size}")
    print(f"{'objectives':28} {'evals':>5} | {'NSGA-II HV share (median, min-max)':>36} | "
          f"{'random search HV share':>30}")
    for second in ("latency_fpga", "latency_raspi4", "latency_eyeriss", "latency_pixel3", "params"):
        functions = bench.objectives(["error", second])
        f_all = np.stack([functions["error"](every), functions[second](every)], axis=1)
        true_front = f_all[non_dominated(f_all)]
        lo, hi = true_front.min(axis=0), true_front.max(axis=0)  # ideal and nadir of the true front
        true_hv = hypervolume((true_front - lo) / (hi - lo), np.full(2, 1.1))
        nsga = {b: [] for b in BUDGETS}
        rand = {b: [] for b in BUDGETS}
        for seed in range(args.seeds):
            result = run_nsga2(space, Objectives(functions), pop_size=args.pop_size, evaluations=max(BUDGETS),
                               seed=seed)
            f = result.evaluated[["error", second]].to_numpy()
            order = np.random.default_rng(seed).permutation(len(every))
            for b in BUDGETS:
                nsga[b].append(hv_share(f[:b], lo, hi, true_hv))
                rand[b].append(hv_share(f_all[order[:b]], lo, hi, true_hv))
        for b in BUDGETS:
            n, r = np.array(nsga[b]), np.array(rand[b])
            print(f"{'error vs ' + second:28} {b:>5} | {100 * np.median(n):>15.2f}% ({100 * n.min():.2f}-"
                  f"{100 * n.max():.2f}%)      | {100 * np.median(r):>10.2f}% ({100 * r.min():.2f}-{100 * r.max():.2f}%)")


if __name__ == "__main__":
    main()
