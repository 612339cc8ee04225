"""Benchmark: Pareto error estimates on Ray workers against the serial run: throughput and sameness.

Searches a small NB201 run (CIFAR-10 where ``../shared/data`` has it, else digits), then runs the
same NSGA-II (error and parameters, one seed) three ways: serially with PyTorch's default
threads, serially with one thread, and on Ray workers (one thread each). Prints distinct
evaluations per second and whether each front equals the one-thread serial front.

    python scripts/bench_pareto_workers.py [--workers 2] [--evaluations 100] [--estimate naswot]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CIFAR = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def main() -> None:
    import torch

    from hwnas.cli import main as hwnas
    from hwnas.core.archives import extract_archive
    from hwnas.device import host_facts
    from hwnas.device.agent.host import describe_host
    from hwnas.pareto.estimates import error_from_run
    from hwnas.pareto.nsga2 import run_nsga2
    from hwnas.pareto.objectives import assemble
    from hwnas.pareto.ray_workers import EstimateRecipe, RayEvaluator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--evaluations", type=int, default=100)
    parser.add_argument("--estimate", default="naswot")
    args = parser.parse_args()
    host = host_facts()
    data = ["--dataset", "cifar10", "--data-dir", extract_archive(str(CIFAR), str(REPO / ".data" / "cifar10-jpeg")),
            "--limit", "1000"] if CIFAR.is_file() else ["--dataset", "digits"]
    with tempfile.TemporaryDirectory() as tmp:
        assert hwnas(["search", "--space", "nb201", "--epochs", "1", *data, "--runs-dir", tmp, "--name", "s",
                      "--no-measure"]) == 0
        run = str(Path(tmp) / "s")
        print(f"machine: {describe_host(host)}, {host['cores']} cores; NB201 run on {data[1]}; {args.estimate} error and "
              f"params, {args.evaluations} distinct evaluations, population 20")
        fronts, default_threads = {}, torch.get_num_threads()
        for label, threads in ((f"serial, {default_threads} threads", default_threads), ("serial, 1 thread", 1)):
            torch.set_num_threads(threads)
            space, error = error_from_run(run, args.estimate)
            started = time.perf_counter()
            result = run_nsga2(space, assemble(["error", "params"], space, error=error), pop_size=20,
                               evaluations=args.evaluations, seed=0)
            fronts[label] = (result.front, time.perf_counter() - started, 0.0)
        torch.set_num_threads(default_threads)
        started = time.perf_counter()
        error = RayEvaluator(EstimateRecipe(run, args.estimate, 512, 0), args.workers)
        warm = space.encode(space.sample(np.random.default_rng(1)))[None]  # waits until every worker is built
        error.ray.get([a.__call__.remote(warm) for a in error.actors])
        startup = time.perf_counter() - started
        started = time.perf_counter()
        result = run_nsga2(space, assemble(["error", "params"], space, error=error), pop_size=20,
                           evaluations=args.evaluations, seed=0)
        fronts[f"Ray, {args.workers} workers"] = (result.front, time.perf_counter() - started, startup)
        error.close()
    reference = fronts["serial, 1 thread"][0]
    print(f"{'run':<22} {'seconds':>8} {'evals/s':>8} {'startup s':>9}  front equals serial 1-thread")
    for label, (front, seconds, startup) in fronts.items():
        same = front.reset_index(drop=True).equals(reference.reset_index(drop=True))
        print(f"{label:<22} {seconds:>8.1f} {args.evaluations / seconds:>8.2f} {startup:>9.1f}  {same}")


if __name__ == "__main__":
    main()
