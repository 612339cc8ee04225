"""One-shot error estimates: their speed, and how well they rank trained networks.

Runs a DARTS search on the offline digits data (or reuses --run), times the one-shot
evaluation (inherited supernet weights, re-estimated BatchNorm, a fixed validation subset) of
--evaluations random genotypes, then trains --sample of them from scratch and reports the
Spearman rank correlation between one-shot accuracy and trained test accuracy.

    python scripts/oneshot_correlation.py [--evaluations 1000] [--sample 8] [--train-epochs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from scipy.stats import spearmanr

    from hwnas.core.data import load_splits, make_loader
    from hwnas.pareto.oneshot import OneShotEvaluator, load_search_supernet
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare, spaces_for
    from hwnas.train import TrainConfig, Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a finished DARTS search run on digits (default: search now)")
    parser.add_argument("--evaluations", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=8)
    parser.add_argument("--train-epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else Path(tmp) / "search"
        if not args.run:
            prepare(SearchConfig(space="darts", seed=args.seed), run).run()
        proxy, supernet, cfg = load_search_supernet(run)
        splits = load_splits(cfg.dataset, val_fraction=cfg.val_fraction, seed=cfg.seed, limit=cfg.limit)
        _, final = spaces_for(cfg, splits.info.input_size, splits.info.in_channels, splits.info.num_classes)
        evaluator = OneShotEvaluator(proxy, supernet, splits.train, splits.val, make_loader, seed=args.seed)
        rng = np.random.default_rng(args.seed)
        lower, upper = proxy.bounds
        x = rng.integers(lower, upper + 1, size=(args.evaluations, len(lower)))
        started = time.perf_counter()
        errors = evaluator(x)
        seconds = time.perf_counter() - started
        print(f"one-shot: {args.evaluations} DARTS genotypes in {seconds:.0f} s ({seconds / args.evaluations * 1000:.0f} "
              f"ms each); error median {np.median(errors):.1f}%, range {errors.min():.1f}-{errors.max():.1f}%")
        oneshot, trained = [], []
        train_splits = load_splits("digits", val_fraction=0.1, seed=args.seed, augment=True)
        for i in range(args.sample):
            genotype = proxy.decode(x[i])
            trainer = Trainer(final, genotype, TrainConfig(epochs=args.train_epochs, seed=args.seed), train_splits,
                              Path(tmp) / f"t{i}", make_loader)
            acc = trainer.run().test_acc
            oneshot.append(100 - errors[i])
            trained.append(100 * acc)
            print(f"  genotype {i}: one-shot accuracy {oneshot[-1]:.1f}%, trained {args.train_epochs} epochs: "
                  f"{trained[-1]:.1f}%", flush=True)
        rho = spearmanr(oneshot, trained).statistic
        print(f"Spearman(one-shot, trained) over {args.sample} genotypes: {rho:.2f}")


if __name__ == "__main__":
    main()
