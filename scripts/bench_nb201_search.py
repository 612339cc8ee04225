"""Benchmark: does the search find good NAS-Bench-201 cells? Scored by the benchmark's ground truth.

For each budget (none, a parameter budget, a latency budget of this machine's table) and seed:
search the nb201 space on real CIFAR-10 images, derive the cell, look up its true CIFAR-10 test
accuracy (200 epochs), its percentile among all cells that keep the same budget, and the regret
to the best such cell. Beside it, random search with the same wall-clock time: random cells
within the budget, each scored by a zero-cost estimate (naswot, on one batch of the same
images), the best-scored one kept; and the median cell within the budget.

    python scripts/bench_nb201_search.py [--seeds 0 1 2] [--images 2000] [--epochs 5] \\
        [--param-budget 500k] [--latency-fraction 0.3] [-- search flags, e.g. --partial-channels 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    import torch

    from hwnas.core.archives import extract_archive
    from hwnas.device import host_facts
    from hwnas.device.agent.host import describe_host
    from hwnas.core.units import parse_count
    from hwnas.pareto.nb201_bench import NB201Benchmark
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare
    from hwnas.spaces import make_space
    from hwnas.table import load_table_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=2000, help="CIFAR-10 training images the search reads (2000)")
    parser.add_argument("--epochs", type=int, default=5, help="search epochs (5)")
    parser.add_argument("--no-unconstrained", action="store_true", help="skip the search without a budget")
    parser.add_argument("--param-budget", default="500k", help="the parameter budget (500k; 'none' to skip)")
    parser.add_argument("--latency-fraction", type=float, default=0.3,
                        help="latency budget between the cheapest (0) and dearest (1) cell in this machine's table "
                        "(0.3; negative to skip)")
    parser.add_argument("--no-random", action="store_true", help="skip the equal-time random search (half the time)")
    parser.add_argument("--random-only", type=float, metavar="SECONDS",
                        help="skip the search: random search alone, for this many seconds (a search's time measured "
                        "by an earlier --no-random run)")
    parser.add_argument("--benchmark-file", default=str(SHARED / "nb201" / "nb201.csv"))
    parser.add_argument("--cifar", default=str(SHARED / "cifar10-jpeg.tar.gz"))
    parser.add_argument("search_flags", nargs="*", help="after --: SearchConfig fields as name=value "
                        "(e.g. partial_channels=2 init_channels=8 layers=2)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    host = host_facts()
    extra = {k: parse_value(v) for k, v in (f.split("=", 1) for f in args.search_flags)}
    data_dir = extract_archive(args.cifar, str(REPO / ".data" / "cifar10-jpeg"))
    bench = NB201Benchmark(args.benchmark_file)
    space = make_space("nb201")
    vectors = bench.all_vectors()
    truth = bench.column("test_acc_cifar10")
    params = bench.column("params_cifar10")
    table = load_table_for("cpu", space)
    latency = table.costs().many(vectors)
    budgets = [] if args.no_unconstrained else [("none", None, None)]
    if args.param_budget != "none":
        budgets.append((f"params <= {args.param_budget}", parse_count(args.param_budget), None))
    if args.latency_fraction >= 0:
        lat = round(float(latency.min() + args.latency_fraction * (latency.max() - latency.min())), 3)
        budgets.append((f"latency <= {lat} ms", None, lat))
    print(f"machine: {describe_host(host)}, {host['cores']} cores; NAS-Bench-201 on CIFAR-10: search {args.epochs} epochs "
          f"on {args.images} images; seeds {args.seeds}; search settings {extra or 'defaults'}")
    print(f"{'budget':<22} {'seed':>4} {'search s':>8} | {'searched':>8} {'pct':>5} {'regret':>6} | "
          f"{'random (naswot)':>15} {'cells':>5} | {'median':>6} {'best':>6}")
    rows = []
    for name, p_budget, l_budget in budgets:
        ok = np.ones(len(truth), dtype=bool)
        if p_budget is not None:
            ok &= params <= p_budget
        if l_budget is not None:
            ok &= latency <= l_budget
        best, median = float(truth[ok].max()), float(np.median(truth[ok]))
        for seed in args.seeds:
            if args.random_only:
                rand, cells = random_search(args, data_dir, space, vectors, truth, ok, seed, args.random_only)
                rows.append((name, float("nan"), float("nan"), float("nan"), rand))
                print(f"{name:<22} {seed:>4} {args.random_only:>8.0f} | {'-':>8} {'-':>5} {'-':>6} | "
                      f"{rand:>15.2f} {cells:>5} | {median:>6.2f} {best:>6.2f}", flush=True)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                cfg = SearchConfig(space="nb201", dataset="cifar10", data_dir=data_dir, limit=args.images, seed=seed,
                                   epochs=args.epochs, param_budget=p_budget, latency_budget_ms=l_budget,
                                   latency_loss="budget" if l_budget else None, **extra)
                started = time.perf_counter()
                result = prepare(cfg, Path(tmp) / "run").run()
                seconds = time.perf_counter() - started
            found = float(truth[bench.code(space.encode(result.genotype)[None])][0])
            # random search with the same time: cells within the budget, the best naswot score kept
            if args.no_random:
                pct = 100.0 * float(np.mean(truth[ok] <= found))
                rows.append((name, found, pct, best - found, float("nan")))
                print(f"{name:<22} {seed:>4} {seconds:>8.0f} | {found:>8.2f} {pct:>5.1f} {best - found:>6.2f} | "
                      f"{'-':>15} {'-':>5} | {median:>6.2f} {best:>6.2f}", flush=True)
                continue
            rand, cells = random_search(args, data_dir, space, vectors, truth, ok, seed, seconds)
            pct = 100.0 * float(np.mean(truth[ok] <= found))
            rows.append((name, found, pct, best - found, rand))
            print(f"{name:<22} {seed:>4} {seconds:>8.0f} | {found:>8.2f} {pct:>5.1f} {best - found:>6.2f} | "
                  f"{rand:>15.2f} {cells:>5} | {median:>6.2f} {best:>6.2f}", flush=True)
    print("medians over seeds (true CIFAR-10 accuracy %):")
    for name, *_ in budgets:
        mine = np.array([r[1:] for r in rows if r[0] == name])
        found, pct, regret, rand = (f"{np.median(v):.2f}" if not np.isnan(v).all() else "-" for v in mine.T)
        print(f"  {name:<22} searched {found} (percentile {pct}, regret {regret}); random (naswot, same time) {rand}")


def random_search(args, data_dir, space, vectors, truth, ok, seed: int, seconds: float):
    """(true accuracy of the best-scored cell, cells scored): random cells within the budget, each
    scored by naswot on one batch of the search's images, for ``seconds``."""
    from hwnas.core.data import load_splits, make_loader
    from hwnas.pareto.zero_cost import ZeroCostEvaluator

    splits = load_splits("cifar10", data_dir=data_dir, limit=args.images, seed=seed, augment=False)
    batch = next(iter(make_loader(splits.train, 64, shuffle=True, seed=seed)))
    scorer = ZeroCostEvaluator(space, "naswot", batch, seed=seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.flatnonzero(ok))
    picked, best_score, cells, started = None, -np.inf, 0, time.perf_counter()
    while cells < len(order) and (cells == 0 or time.perf_counter() - started < seconds):
        score = scorer.score(vectors[order[cells]])
        if score > best_score:
            picked, best_score = order[cells], score
        cells += 1
    return float(truth[picked]), cells


def parse_value(text: str):
    """A name=value setting's value: an int, a float, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    main()
