"""``hwnas train``: train a genotype's network from scratch."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

from hwnas.cli.common import network_options, add_command, add_run_options, add_data_options, add_network_options


def cmd_train(args: argparse.Namespace) -> int:
    """Train a genotype's network from scratch.

    Train the final network of a genotype with the DARTS evaluation protocol as options (SGD +
    momentum, cosine schedule, cutout, drop path, auxiliary head, gradient clipping); writes
    runs/NAME/{config.json,metrics.csv,best.pt,last.pt,result.json}.
    """
    from hwnas.core.distributed import data_parallel
    from hwnas.core.genotype import load_genotype
    from hwnas.train import TrainConfig

    genotype = load_genotype(args.genotype)
    if args.space and args.space != genotype.space:
        raise ValueError(f"--space {args.space} does not match the genotype, which is of space {genotype.space}")
    for option in ("input_size", "in_channels", "num_classes"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option.replace('_', '-')}: in hwnas train the data set decides the image shape and "
                             f"classes; leave it out (for imagefolder, --image-size sets the side)")
    run_dir = Path(args.runs_dir) / args.name
    if (run_dir / "last.pt").exists() and not (args.resume or args.overwrite):
        raise ValueError(f"{run_dir} already holds a training run; continue it with --resume, or pass --overwrite "
                         f"or another --name")
    # every training setting the command line has (the others keep their defaults)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    with data_parallel(cfg.torch_device) as world:  # one process, or a rank under torchrun
        return _train(args, genotype, cfg, run_dir, world)


def _train(args: argparse.Namespace, genotype: Any, cfg: Any, run_dir: Path, world: Any) -> int:
    from tqdm import tqdm

    from hwnas.runs import Interrupted
    from hwnas.train import prepare_training

    world.check_batch(cfg.batch_size)
    trainer = prepare_training(genotype, cfg, run_dir, world, **network_options(args))
    steps = max(1, len(trainer.splits.train) // cfg.batch_size)
    bar = tqdm(total=cfg.epochs * steps, initial=trainer.epoch * steps if args.resume else 0, desc="train",
               unit="step", disable=not world.is_main)

    def progress(stats: dict) -> None:
        bar.set_postfix(epoch=stats["epoch"], loss=f"{stats['loss']:.3f}", acc=f"{stats['acc']:.3f}", refresh=False)
        bar.update(1)

    def on_epoch(row: dict) -> None:
        if world.is_main:
            bar.write(f"epoch {row['epoch']}/{cfg.epochs}: train acc {row['train_acc']:.3f}, "
                      f"val acc {row['val_acc']:.3f}")

    try:
        result = trainer.run(resume=args.resume, progress=progress, on_epoch=on_epoch)
    except Interrupted as exc:
        bar.close()
        if world.is_main:
            print(f"hwnas train: {exc}")
        return 130
    bar.close()
    if result is None:  # another rank than 0: rank 0 tests and reports
        return 0
    print(f"test accuracy {result.test_acc:.4f} (best val {result.best_val_acc:.4f}); weights: {run_dir / 'best.pt'}")
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "train", cmd_train)
    p.add_argument("genotype", help="a genotype JSON file (e.g. runs/search/genotype.json), JSON text or a "
                   "published name")
    add_data_options(p)
    p.add_argument("--epochs", type=int, default=20, help="epochs (20; DARTS trains 600 on CIFAR-10)")
    p.add_argument("--batch-size", type=int, default=96, help="batch size (96)")
    p.add_argument("--lr", type=float, default=0.025, help="SGD learning rate, cosine to 0 (0.025)")
    p.add_argument("--weight-decay", type=float, default=3e-4, help="weight decay (3e-4)")
    p.add_argument("--grad-clip", type=float, default=5.0, help="gradient norm clip (5)")
    p.add_argument("--cutout", type=int, default=0, help="cutout square side in pixels (0; DARTS CIFAR: 16)")
    p.add_argument("--drop-path", type=float, default=0.0, help="drop-path probability, ramped up (0; DARTS 0.2)")
    p.add_argument("--auxiliary-weight", type=float, default=0.4, help="auxiliary loss weight with --auxiliary (0.4)")
    add_run_options(p, "train", "last.pt", "the network")
    add_network_options(p)
