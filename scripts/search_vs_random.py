"""Does the hardware-aware search beat random genotypes of the same table latency?

For each seed: a DARTS search on the offline digits data under a latency budget, then a
random genotype of the space whose table latency is within +-3% of the searched one; both are
trained from scratch the same way (same epochs, same seed) and their test accuracy compared.

    python scripts/search_vs_random.py [--seeds 0 1 2] [--budget-fraction 0.4] [--train-epochs 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    from hwnas.data import load_splits, make_loader
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare
    from hwnas.train import TrainConfig, Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget-fraction", type=float, default=0.4)
    parser.add_argument("--train-epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores; DARTS space on digits, device {args.device}, budget at "
          f"{args.budget_fraction:.0%} of the latency range, training {args.train_epochs} epochs")
    print(f"{'seed':>4} {'budget ms':>9} {'searched ms':>11} {'acc':>6} | {'random ms':>9} {'acc':>6}")
    searched_acc, random_acc = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            probe = prepare(SearchConfig(space="darts", device=args.device, seed=seed), Path(tmp) / f"probe{seed}")
            r = probe.latency_range
            budget = round(r["min_latency_ms"] + args.budget_fraction * (r["max_latency_ms"] - r["min_latency_ms"]), 3)
            cfg = SearchConfig(space="darts", device=args.device, latency_budget_ms=budget, latency_loss="budget",
                               seed=seed)
            searcher = prepare(cfg, Path(tmp) / f"s{seed}")
            result = searcher.run()
            table, final = searcher.table, searcher.final
            rng = np.random.default_rng(1000 + seed)
            while True:  # a random genotype at the same table latency
                candidate = final.sample(rng)
                latency = table.predict(candidate)
                if abs(latency - result.latency_ms) <= 0.03 * result.latency_ms:
                    break
            accs = []
            splits = load_splits("digits", val_fraction=0.1, seed=seed, augment=True)
            for name, genotype in (("searched", result.genotype), ("random", candidate)):
                trainer = Trainer(final, genotype, TrainConfig(epochs=args.train_epochs, seed=seed), splits,
                                  Path(tmp) / f"{name}{seed}", make_loader)
                accs.append(100 * trainer.run().test_acc)
            searched_acc.append(accs[0])
            random_acc.append(accs[1])
            print(f"{seed:>4} {budget:>9.3f} {result.latency_ms:>11.3f} {accs[0]:>5.1f}% | {latency:>9.3f} "
                  f"{accs[1]:>5.1f}%", flush=True)
    s, r = np.array(searched_acc), np.array(random_acc)
    print(f"test accuracy, mean +- std over {len(s)} seeds: searched {s.mean():.2f} +- {s.std():.2f}%, random at the "
          f"same latency {r.mean():.2f} +- {r.std():.2f}%; searched better in {int((s > r).sum())} of {len(s)}")


if __name__ == "__main__":
    main()
