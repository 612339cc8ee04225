"""Does the hardware-aware search beat random genotypes of the same table latency?

For each seed: a DARTS search under a latency budget, then a random genotype of the space whose
table latency is within +-3% of the searched one; both are trained from scratch the same way
(same epochs, same seed, same network size) and their test accuracy compared.

    python scripts/search_vs_random.py [--seeds 0 1 2] [--budget-fraction 0.4] [--train-epochs 10]

On a CIFAR-10 subset (the archive is extracted once into .data/), training a smaller network of
each genotype than the deployed one, as DARTS does for its proxies:

    python scripts/search_vs_random.py --dataset cifar10 --data-dir ../shared/data/cifar10-jpeg.tar.gz \\
        --limit 1500 --init-channels 8 --layers 5 --search-epochs 2 --train-epochs 8 \
        --train-init-channels 8 --train-layers 5
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np


def data_folder(data_dir: str | None) -> str | None:
    """A folder as it is; an archive extracted once into the repository's git-ignored .data/."""
    if data_dir is None or Path(data_dir).is_dir():
        return data_dir
    from hwnas.core.archives import extract_archive

    name = Path(data_dir).name.split(".")[0]
    return extract_archive(data_dir, str(Path(__file__).resolve().parents[1] / ".data" / name))


def main() -> None:
    from hwnas.core.data import load_splits, make_loader
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare
    from hwnas.spaces import make_space
    from hwnas.train import TrainConfig, Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget-fraction", type=float, default=0.4)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", help="dataset folder, or a .tar.gz of train/ and test/ image folders")
    parser.add_argument("--limit", type=int, help="at most this many images per split")
    parser.add_argument("--search-epochs", type=int, default=5)
    parser.add_argument("--init-channels", type=int, help="channels of the searched proxy supernet (the space's)")
    parser.add_argument("--layers", type=int, help="cells of the searched proxy supernet (the space's)")
    parser.add_argument("--train-epochs", type=int, default=10)
    parser.add_argument("--train-init-channels", type=int, help="channels of the trained networks (the final's)")
    parser.add_argument("--train-layers", type=int, help="cells of the trained networks (the final's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tables-dir", help="folder of latency tables (default: as hwnas reads them: yours, else the shipped ones)")
    args = parser.parse_args()
    data_dir = data_folder(args.data_dir)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores; DARTS space on {args.dataset}"
          f"{f' (at most {args.limit} images per split)' if args.limit else ''}, device {args.device}, budget at "
          f"{args.budget_fraction:.0%} of the latency range; search {args.search_epochs} epochs; training "
          f"{args.train_epochs} epochs" + (f" of C={args.train_init_channels}, {args.train_layers}-cell networks"
                                            if args.train_init_channels or args.train_layers else ""))
    print(f"{'seed':>4} {'budget ms':>9} {'searched ms':>11} {'acc':>6} | {'random ms':>9} {'acc':>6}")
    searched_acc, random_acc = [], []
    common = dict(space="darts", dataset=args.dataset, data_dir=data_dir, limit=args.limit, device=args.device,
                  tables_dir=args.tables_dir, epochs=args.search_epochs, init_channels=args.init_channels,
                  layers=args.layers)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            probe = prepare(SearchConfig(seed=seed, **common), Path(tmp) / f"probe{seed}")
            r = probe.latency_range
            budget = round(r["min_latency_ms"] + args.budget_fraction * (r["max_latency_ms"] - r["min_latency_ms"]), 3)
            searcher = prepare(SearchConfig(latency_budget_ms=budget, latency_loss="budget", seed=seed, **common),
                               Path(tmp) / f"s{seed}")
            result = searcher.run()
            table, final = searcher.table, searcher.final
            rng = np.random.default_rng(1000 + seed)
            while True:  # a random genotype at the same table latency
                candidate = final.sample(rng)
                latency = table.costs().of(candidate)
                if abs(latency - result.latency_ms) <= 0.03 * result.latency_ms:
                    break
            size = {k: v for k, v in final.config().items() if k not in ("space", "stem_multiplier")}
            size.update(init_channels=args.train_init_channels or size["init_channels"],
                        layers=args.train_layers or size["layers"])
            trained = make_space("darts", **size)
            splits = load_splits(args.dataset, data_dir=data_dir, val_fraction=0.1, seed=seed, augment=True,
                                 limit=args.limit)
            accs = []
            for name, genotype in (("searched", result.genotype), ("random", candidate)):
                trainer = Trainer(trained, genotype, TrainConfig(epochs=args.train_epochs, seed=seed), splits,
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
