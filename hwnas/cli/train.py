"""``hwnas train``: train a genotype's network from scratch."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import fields
from pathlib import Path
from typing import Any

from hwnas.cli.common import (COUNT, NON_NEGATIVE, POSITIVE, add_command, add_data_options, add_network_options,
                              add_run_options, changed_by_flags, network_options, number, refuse_a_used_folder,
                              run_folder_of, space_source)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a genotype's network from scratch.

    Train the final network of a genotype with the DARTS evaluation protocol as options (SGD +
    momentum, cosine schedule, cutout, drop path, auxiliary head, gradient clipping); writes
    runs/NAME/{config.json,metrics.csv,best.pt,last.pt,result.json}.
    """
    from contextlib import nullcontext

    from hwnas.core.distributed import data_parallel
    from hwnas.spaces.genotypes import load_genotype
    from hwnas.runs import own_run_folder
    from hwnas.train import TrainConfig

    genotype = load_genotype(args.genotype)
    args.space = space_source(args.space, [genotype])  # checked against the genotype before any work
    for option in ("input_size", "in_channels", "num_classes"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option.replace('_', '-')}: in hwnas train the data set decides the image shape and "
                             f"classes; leave it out (for imagefolder, --image-size sets the side)")
    run_dir = run_folder_of(args)
    # every training setting the command line has (the others keep their defaults)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    with data_parallel(cfg.torch_device) as world:  # one process, or a rank under torchrun
        with own_run_folder(run_dir, fresh=args.overwrite) if world.is_main else nullcontext():
            if world.is_main and not args.resume:
                refuse_a_used_folder(run_dir, "a training run")
            if args.resume:  # rank 0 reads the run's settings; the others take them
                cfg = world.broadcast(_recorded(args, cfg, run_dir) if world.is_main else None)
            return _train(args, genotype, cfg, run_dir, world)


def _recorded(args: argparse.Namespace, asked: Any, run_dir: Path) -> Any:
    """The settings a training run was started with; flags typed now that would change them are
    refused by name (those left out take the run's values)."""
    from hwnas.core.settings import RUNTIME_SETTINGS
    from hwnas.runs import RunFolder
    from hwnas.train import TrainConfig

    config = RunFolder(run_dir).read_config("training run")
    if "train" not in config:
        raise ValueError(f"{run_dir / 'config.json'} holds no training settings: is {run_dir} a training run folder?")
    recorded = TrainConfig.from_dict(config["train"])
    changed = changed_by_flags(asked, recorded, getattr(args, "argv", None) or [])
    if changed:
        raise ValueError(f"--resume continues {run_dir} with its recorded settings, but {'; '.join(changed)}; drop "
                         f"those flags, or start a new --name")
    print(f"resuming {run_dir} with its recorded settings")
    return dataclasses.replace(recorded, **{f: getattr(asked, f) for f in RUNTIME_SETTINGS})


def _train(args: argparse.Namespace, genotype: Any, cfg: Any, run_dir: Path, world: Any) -> int:
    from tqdm import tqdm

    from hwnas.runs import Interrupted
    from hwnas.train import prepare_training

    world.check_batch(cfg.batch_size)
    trainer = prepare_training(genotype, cfg, run_dir, world, space=args.space, **network_options(args))
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
