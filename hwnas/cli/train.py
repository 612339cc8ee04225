"""``hwnas train``: train a genotype's network from scratch."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from typing import Any

from hwnas.cli.common import (COUNT, NON_NEGATIVE, POSITIVE, add_command, add_data_options, add_network_options,
                              add_run_options, changed_by_flags, network_options, number, run_folder_of)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a genotype's network from scratch.

    Train the final network of a genotype with the DARTS evaluation protocol as options (SGD +
    momentum, cosine schedule, cutout, drop path, auxiliary head, gradient clipping); writes
    runs/NAME/{config.json,metrics.csv,best.pt,last.pt,result.json}.
    """
    from tqdm import tqdm

    from hwnas import api
    from hwnas.runs import Interrupted
    from hwnas.spaces.genotypes import load_genotype
    from hwnas.train import TrainConfig, recorded_training

    genotype = load_genotype(args.genotype)
    run_dir = run_folder_of(args)
    # every training setting the command line has (the others keep their defaults)
    asked = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    argv = getattr(args, "argv", None) or []

    epochs = recorded_training(run_dir).epochs if args.resume and (run_dir / "config.json").is_file() else asked.epochs

    def on_epoch(row: dict) -> None:
        tqdm.write(f"epoch {row['epoch']}/{epochs}: train acc {row['train_acc']:.3f}, val acc {row['val_acc']:.3f}")

    try:
        result = api.run_training(genotype, asked, run_dir, resume=args.resume, overwrite=args.overwrite,
                                  space=args.space, network=network_options(args), say=print, progress=True,
                                  tensorboard=args.tensorboard, on_epoch=on_epoch,
                                  check=lambda recorded: changed_by_flags(asked, recorded, argv))
    except Interrupted as exc:
        if os.environ.get("RANK", "0") == "0":
            print(f"hwnas train: {exc}")
        return 130
    if result is None:  # another rank than 0: rank 0 tests and reports
        return 0
    print(f"test accuracy {result.test_acc:.4f} (best val {result.best_val_acc:.4f}); weights: {run_dir / 'best.pt'}")
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "train", cmd_train)
    p.add_argument("genotype", help="a genotype JSON file (e.g. runs/search/genotype.json), JSON text or a "
                   "published name")
    add_data_options(p)
    p.add_argument("--epochs", type=COUNT, default=20, help="epochs (20; DARTS trains 600 on CIFAR-10)")
    p.add_argument("--batch-size", type=COUNT, default=96, help="batch size (96)")
    p.add_argument("--lr", type=POSITIVE, default=0.025, help="SGD learning rate, cosine to 0 (0.025)")
    p.add_argument("--weight-decay", type=NON_NEGATIVE, default=3e-4, help="weight decay (3e-4)")
    p.add_argument("--grad-clip", type=POSITIVE, default=5.0, help="gradient norm clip (5)")
    p.add_argument("--cutout", type=number(int, 0), default=0, help="cutout square side in pixels (0; DARTS CIFAR: 16)")
    p.add_argument("--drop-path", type=number(float, 0, 1, open_high=True), default=0.0,
                   help="drop-path probability, ramped up (0; DARTS 0.2)")
    p.add_argument("--auxiliary-weight", type=NON_NEGATIVE, default=0.4,
                   help="auxiliary loss weight with --auxiliary (0.4)")
    add_run_options(p, "train", "last.pt", "the network")
    add_network_options(p)
