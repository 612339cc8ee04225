"""Benchmark: how well cheap accuracy estimates rank NAS-Bench-201 cells against their true accuracy.

For --cells cells sampled at random (seeded) from the 15,625, builds the benchmark's CIFAR-10
network (16-channel stem, 5 cells per stage), freshly initialised, and scores it with each
zero-cost estimate (hwnas.pareto.zero_cost) on one batch of real CIFAR-10 training images;
reports the Spearman and Kendall rank correlations with the benchmark's CIFAR-10 test accuracy
(200 epochs), and the time per cell. Repeated over --repeats seeds (another batch, another
sample, another initialisation); prints medians and ranges. Also reports parameters and FLOPs
as baselines (bigger networks are often better), the rank-average of naswot and synflow, and
the accuracy predictor (hwnas.pareto.predictor) fitted on the true accuracy of --trained other
cells, as if those had been trained. With --one-shot RUN, also the one-shot estimate: each cell
inherits the weights of the supernet that the NB201 search run RUN trained (on CIFAR-10), with
BatchNorm re-estimated, and is scored on that run's validation images, as ``hwnas pareto
--error-estimate one-shot`` scores it; NB201's accuracy is that of the cell trained from scratch.

    python scripts/bench_estimators.py [--cells 300] [--repeats 3] [--batch 64] [--trained 50]
    python scripts/bench_estimators.py --only-predictor     # the predictor alone: no network is built
    python scripts/bench_estimators.py --one-shot runs/nb201-cifar --cells 200 --repeats 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    import pandas as pd
    import torch
    from scipy.stats import kendalltau, rankdata, spearmanr

    from hwnas.core.archives import extract_archive
    from hwnas.core.data import load_splits, make_loader
    from hwnas.device import host_facts
    from hwnas.device.agent.host import describe_host
    from hwnas.pareto.estimates import error_from_run
    from hwnas.pareto.nb201_bench import NB201Benchmark
    from hwnas.pareto.predictor import AccuracyPredictor
    from hwnas.pareto.zero_cost import PROXIES
    from hwnas.spaces import make_space

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300, help="cells sampled per repeat (300)")
    parser.add_argument("--repeats", type=int, default=3, help="seeds: sample, batch and initialisation (3)")
    parser.add_argument("--batch", type=int, default=64, help="images per batch (64)")
    parser.add_argument("--trained", type=int, default=50, help="cells the predictor is fitted on (50)")
    parser.add_argument("--only-predictor", action="store_true", help="skip the zero-cost scores")
    parser.add_argument("--one-shot", metavar="RUN", help="also rank by the one-shot estimate of this nb201 search "
                        "run's supernet (a run of hwnas search --space nb201 --dataset cifar10)")
    parser.add_argument("--benchmark-file", default=str(SHARED / "nb201" / "nb201.csv"))
    parser.add_argument("--cifar", default=str(SHARED / "cifar10-jpeg.tar.gz"), help="the CIFAR-10 JPEG archive")
    args = parser.parse_args()
    torch.set_num_threads(2)
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores; torch {torch.__version__}; NAS-Bench-201 CIFAR-10, "
          f"{args.cells} cells x {args.repeats} seeds, batch {args.batch}, predictor fitted on {args.trained} others")
    bench = NB201Benchmark(args.benchmark_file)
    truth = bench.column("test_acc_cifar10")
    space = make_space("nb201")
    proxies = {} if args.only_predictor else PROXIES
    data_dir = None if args.only_predictor else extract_archive(args.cifar, str(REPO / ".data" / "cifar10-jpeg"))
    predictor = f"predictor ({args.trained} trained)"
    one_shot = error_from_run(args.one_shot, "one-shot")[1] if args.one_shot else None
    names = [*proxies, *([] if args.only_predictor else ["naswot+synflow"]), *(["one-shot"] if one_shot else []),
             "params", "flops", predictor]
    rows = {n: [] for n in names}
    seconds = {n: [] for n in [*proxies, *(["one-shot"] if one_shot else [])]}
    for seed in range(args.repeats):
        rng = np.random.default_rng(seed)
        cells = rng.choice(len(truth), size=args.cells + args.trained, replace=False)
        vectors, trained = bench.all_vectors()[cells[:args.cells]], bench.all_vectors()[cells[args.cells:]]
        acc = truth[bench.code(vectors)]
        scores = {n: [] for n in proxies}
        if proxies:
            splits = load_splits("cifar10", data_dir=data_dir, seed=seed, augment=False, limit=5000)
            x, y = next(iter(make_loader(splits.train, args.batch, shuffle=True, seed=seed)))
        for v in vectors if proxies else []:
            for name, proxy in proxies.items():
                torch.manual_seed(seed)
                model = space.build(space.decode(v))
                started = time.perf_counter()
                scores[name].append(proxy(model, x, y))
                seconds[name].append(time.perf_counter() - started)
        scores = {n: np.array(s) for n, s in scores.items()}
        if one_shot:
            started = time.perf_counter()
            scores["one-shot"] = -one_shot(vectors)  # lower error ranks higher
            seconds["one-shot"] += [(time.perf_counter() - started) / len(vectors)] * len(vectors)
        if proxies:
            scores["naswot+synflow"] = rankdata(scores["naswot"]) + rankdata(np.log(scores["synflow"] + 1e-300))
        scores[predictor] = AccuracyPredictor(space).fit(trained, truth[bench.code(trained)]).predict(vectors)
        scores["params"] = space.params.many(vectors)
        scores["flops"] = space.flops.many(vectors)
        for name in names:
            rows[name].append((spearmanr(scores[name], acc).statistic, kendalltau(scores[name], acc).statistic))
        print(f"seed {seed}: " + ", ".join(f"{n} tau {rows[n][-1][1]:.3f}" for n in names), flush=True)
    table = []
    for name in names:
        rho, tau = np.array(rows[name]).T
        ms = f"{1000 * np.median(seconds[name]):.0f}" if name in seconds else "-"
        table.append({"estimate": name, "Spearman (median, range)": f"{np.median(rho):.3f} ({rho.min():.3f}-{rho.max():.3f})",
                      "Kendall tau (median, range)": f"{np.median(tau):.3f} ({tau.min():.3f}-{tau.max():.3f})",
                      "ms per cell": ms})
    print(pd.DataFrame(table).to_string(index=False))


if __name__ == "__main__":
    main()
