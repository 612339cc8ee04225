"""Benchmark: do skip connections take over a long NAS-Bench-201 search, and does a mitigation stop it?

Runs unconstrained nb201 searches on real CIFAR-10 images for many epochs, once per setting, and
after every epoch looks the derived cell up in NAS-Bench-201: its skip connections, ``none``
edges, architecture entropy and true CIFAR-10 test accuracy, and that of the cell derived from
the same weights with ``--max-skip`` (the cap on skip connections; 2 by default). Settings are SearchConfig fields as
name=value, one setting per ``--setting``; "plain" is the search's defaults.

    python scripts/bench_collapse.py --epochs 30 --images 1000 \\
        --setting plain --setting beta_decay=5 [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    import torch

    from bench_nb201_search import parse_value

    from hwnas.core.archives import extract_archive
    from hwnas.device import host_facts
    from hwnas.device.agent.host import describe_host
    from hwnas.spaces.genotypes import genotype_from_dict
    from hwnas.pareto.nb201_bench import NB201Benchmark
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare
    from hwnas.spaces import make_space

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="search epochs (30)")
    parser.add_argument("--images", type=int, default=1000, help="CIFAR-10 training images the search reads (1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--setting", action="append", default=None,
                        help="'plain' or comma-separated SearchConfig fields name=value (repeatable)")
    parser.add_argument("--max-skip", type=int, default=2, help="the cap of the second derivation (2)")
    parser.add_argument("--benchmark-file", default=str(SHARED / "nb201" / "nb201.csv"))
    parser.add_argument("--cifar", default=str(SHARED / "cifar10-jpeg.tar.gz"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    host = host_facts()
    data_dir = extract_archive(args.cifar, str(REPO / ".data" / "cifar10-jpeg"))
    bench = NB201Benchmark(args.benchmark_file)
    truth = bench.column("test_acc_cifar10")
    space = make_space("nb201")
    print(f"machine: {describe_host(host)}, {host['cores']} cores; NAS-Bench-201 on CIFAR-10, unconstrained search, "
          f"{args.epochs} epochs on {args.images} images, seed {args.seed}; all cells: median "
          f"{np.median(truth):.2f}, best {truth.max():.2f}", flush=True)
    for setting in args.setting or ["plain"]:
        pairs = [] if setting == "plain" else [f.split("=", 1) for f in setting.split(",")]
        extra = {k: parse_value(v) for k, v in pairs}
        cfg = SearchConfig(space="nb201", dataset="cifar10", data_dir=data_dir, limit=args.images, seed=args.seed,
                           epochs=args.epochs, measure_budget=False, **{"max_skip": None, **extra})
        print(f"\nsetting: {setting}\n{'epoch':>5} {'skips':>5} {'none':>4} {'entropy':>7} {'val acc':>7} "
              f"{'true acc':>8} {f'cap {args.max_skip}':>6}  cell (argmax)", flush=True)
        accs, capped = [], []
        with tempfile.TemporaryDirectory() as tmp:
            searcher = prepare(cfg, Path(tmp) / "run")

            def report(row) -> None:
                genotype = genotype_from_dict(json.loads(row["genotype"]))
                accs.append(float(truth[bench.code(space.encode(genotype)[None])][0]))
                cap = space.derive(searcher.arch.numpy_probs(), max_skip=args.max_skip)
                capped.append(float(truth[bench.code(space.encode(cap)[None])][0]))
                ops = list(genotype.ops)
                print(f"{row['epoch']:>5} {ops.count('skip_connect'):>5} {ops.count('none'):>4} "
                      f"{row['alpha_entropy']:>7.3f} {row['val_acc']:>7.3f} {accs[-1]:>8.2f} {capped[-1]:>6.2f}  "
                      f"{genotype.arch}", flush=True)

            started = time.perf_counter()
            searcher.run(on_epoch=report)
        print(f"{setting}: final {accs[-1]:.2f} (cap {args.max_skip}: {capped[-1]:.2f}), best epoch "
              f"{int(np.argmax(accs)) + 1} ({max(accs):.2f}), {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
