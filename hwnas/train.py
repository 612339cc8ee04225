"""Train a genotype's network from scratch (the DARTS evaluation protocol, as options).

SGD with momentum and a cosine schedule, cutout, drop path, an auxiliary head with its loss
weight, gradient clipping. The run directory holds ``config.json``, ``metrics.csv`` (one row
per epoch), ``best.pt`` (the weights with the best validation accuracy) and ``last.pt`` (the
full state for ``--resume``); both load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.core import fileio
from hwnas.core.distributed import ALONE, World, global_batchnorm, rank_device
from hwnas.spaces.genotypes import Genotype, genotype_to_dict
from hwnas.device.threads import ThreadGovernor
from hwnas.runs import Interrupted, RunFolder, StopRequests, stoppable
from hwnas.core.settings import DataSettings, edited_settings
from hwnas.core.seeding import rng_state, seed_everything, set_rng_state
from hwnas.spaces import SearchSpace

log = logging.getLogger(__name__)
CHECKPOINT_VERSION = 1


@dataclass
class TrainConfig(DataSettings):
    what = "training"

    epochs: int = 20
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    cutout: int = 0
    augment: bool = True
    drop_path: float = 0.0
    auxiliary_weight: float = 0.4

    def validate(self) -> None:
        self.check_positive("epochs", "batch_size")
        if self.lr <= 0:
            raise ValueError(f"--lr must be positive, got {self.lr!r}")


@dataclass
class TrainResult:
    test_acc: float
    best_val_acc: float
    metrics: pd.DataFrame
    run_dir: Path


@torch.no_grad()
def evaluate(model: nn.Module, loader, device: torch.device, world: World = ALONE) -> Dict[str, float]:
    """Loss and accuracy of ``model`` (eval mode) over a loader (each rank a slice of every batch)."""
    model.eval()
    total, correct, loss = 0, 0, 0.0
    for x, y in loader:
        x, y = world.shard(x.to(device), y.to(device))
        logits = model(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    loss, correct, total = world.sum([loss, correct, total])
    return {"loss": loss / max(total, 1), "acc": correct / max(total, 1)}


class Trainer:
    def __init__(self, space: SearchSpace, genotype: Genotype, cfg: TrainConfig, splits, run_dir: str | Path,
                 make_loader: Callable, world: World = ALONE) -> None:
        cfg.validate()
        self.world = world  # data-parallel ranks (see hwnas.core.distributed); ALONE in one process
        self.space, self.genotype, self.cfg, self.splits = space, genotype, cfg, splits
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(run_dir)
        self.make_loader = make_loader
        self.device = torch.device(rank_device(cfg.torch_device, world))
        seed_everything(cfg.seed)
        self.model = space.build(genotype).to(self.device)
        self.model = global_batchnorm(self.model, world)
        world.broadcast_module(self.model)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, cfg.epochs, eta_min=cfg.lr_min)
        self.epoch, self.best_val = 0, -1.0
        self.metrics: List[Dict[str, Any]] = []
        self.stop = StopRequests()

    # -- files -----------------------------------------------------------------------------------
    def _save_last(self) -> None:
        if not self.world.is_main:  # every rank holds the same state; rank 0 writes it
            return
        self.folder.save_checkpoint("last.pt", CHECKPOINT_VERSION, {
            "config": self.cfg.to_dict(), "epoch": self.epoch,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "rng": rng_state(), "best_val": self.best_val,
            "metrics": self.metrics, "genotype": genotype_to_dict(self.genotype)})

    def _load_last(self) -> None:
        path = self.folder / "last.pt"
        state = None
        if self.world.is_main:
            state = self.folder.load_checkpoint("last.pt", CHECKPOINT_VERSION, "cpu", what="training to resume")
        state = self.world.broadcast(state)  # rank 0 reads it and sends it on: the others' disks need not hold it
        if state["genotype"] != genotype_to_dict(self.genotype):
            raise ValueError(f"--resume with another genotype than {path} was saved with; pass the run's genotype "
                             f"(in {self.run_dir / 'config.json'}) or use another --name")
        edited = edited_settings(state["config"], self.cfg.to_dict(), path, self.run_dir / "config.json")
        if edited:
            raise ValueError(edited)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best_val, self.metrics = state["epoch"], state["best_val"], state["metrics"]
        set_rng_state(state["rng"])

    # -- loop ------------------------------------------------------------------------------------
    def _train_epoch(self, progress) -> Dict[str, float]:
        cfg = self.cfg
        self.model.train()
        if hasattr(self.model, "drop_path_prob"):
            self.model.drop_path_prob = cfg.drop_path * self.epoch / cfg.epochs  # DARTS' linear ramp
        loader = self.make_loader(self.splits.train, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + self.epoch,
                                  num_workers=cfg.num_workers, drop_last=len(self.splits.train) > cfg.batch_size)
        total, correct, loss_sum = 0, 0, 0.0
        for x, y in loader:
            batch = len(y)
            x, y = self.world.shard(x.to(self.device), y.to(self.device))
            share = (len(y), batch)  # this rank's part of the global batch
            out = self.model(x)
            logits, aux = out if isinstance(out, tuple) else (out, None)
            loss = F.cross_entropy(logits, y)
            if aux is not None:
                loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.world.average_gradients(self.model.parameters(), *share)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            total += len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(y)
            self.threads.tick()
            if progress:
                progress({"epoch": self.epoch + 1, "loss": float(loss.detach()), "acc": correct / total})
            self.stop.requested = self.world.any(self.stop.requested)  # every rank stops at the same step
            if self.stop.requested:
                break
        loss_sum, correct, total = self.world.sum([loss_sum, correct, total])
        return {"train_loss": loss_sum / max(total, 1), "train_acc": correct / max(total, 1)}

    def run(self, resume: bool = False, progress=None, on_epoch=None) -> Optional[TrainResult]:
        """Train; rank 0 returns the result, other ranks ``None``."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._load_last()
        elif self.world.is_main:
            self.folder.write_config(train=self.cfg.to_dict(), space=self.space.config(),
                                     genotype=genotype_to_dict(self.genotype), distributed=self.world.describe())
        val_loader = self.make_loader(self.splits.val, 256, shuffle=False)
        self.threads = ThreadGovernor(self.cfg.threads, share=self.world.local_size)
        self.threads.start()
        with stoppable(self.stop, f"stopped at once; {self.folder / 'last.pt'} holds the last finished epoch; "
                                  f"continue with --resume"):
            self._epochs(val_loader, progress, on_epoch)
        if not self.world.is_main:  # rank 0 tests the best weights and writes the result
            return None
        best = fileio.load_torch(self.run_dir / "best.pt", map_location=self.device)["model"]
        self.model.load_state_dict(best)
        test = evaluate(self.model, self.make_loader(self.splits.test, 256, shuffle=False), self.device)
        self.folder.write_json("result.json", {"test_acc": test["acc"], "test_loss": test["loss"],
                                                         "best_val_acc": self.best_val, "epochs": self.epoch})
        return TrainResult(test["acc"], self.best_val, pd.DataFrame(self.metrics), self.run_dir)

    def _epochs(self, val_loader, progress, on_epoch) -> None:
        while self.epoch < self.cfg.epochs:
            seed_everything(self.cfg.seed * 1000 + self.epoch)
            started = time.perf_counter()
            row = self._train_epoch(progress)
            if self.stop.requested:  # an epoch cut short is redone on --resume
                raise Interrupted(f"interrupted in epoch {self.epoch + 1}; {self.run_dir / 'last.pt'} holds the "
                                  f"last finished epoch; continue with --resume")
            val = evaluate(self.model, val_loader, self.device, self.world) if len(self.splits.val) else \
                {"loss": 0, "acc": 0}
            row = {"epoch": self.epoch + 1, **row, "val_loss": val["loss"], "val_acc": val["acc"],
                   "lr": self.scheduler.get_last_lr()[0], "seconds": time.perf_counter() - started}
            self.scheduler.step()
            self.epoch += 1
            row["threads"] = self.threads.update()  # those of the next epoch, fitted to the machine's load
            self.metrics.append(row)
            if val["acc"] > self.best_val:
                self.best_val = val["acc"]
                if self.world.is_main:
                    fileio.save_torch(self.run_dir / "best.pt", {"model": self.model.state_dict()})
            if self.world.is_main:
                self.folder.write_metrics(self.metrics)
            self._save_last()
            if on_epoch:
                on_epoch(row)


def recorded_training(run_dir: Path) -> TrainConfig:
    """The settings a training run folder was started with."""
    config = RunFolder(run_dir).read_config("training run")
    if "train" not in config:
        raise ValueError(f"{run_dir / 'config.json'} holds no training settings: is {run_dir} a training run folder?")
    return TrainConfig.from_dict(config["train"])


def prepare_training(genotype: Genotype, cfg: TrainConfig, run_dir: str | Path, world: World = ALONE,
                     space: Optional[str] = None, **network: Any) -> Trainer:
    """Data and network for ``genotype`` (in ``space``, a name or a file: by default the one the
    genotype records); the image shape and classes come from the data set."""
    from hwnas.core.data import load_splits, make_loader
    from hwnas.spaces import make_space, space_for

    cfg.validate()  # before the data set is read
    splits = load_splits(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, val_fraction=cfg.val_fraction,
                         seed=cfg.seed, augment=cfg.augment, cutout=cfg.cutout, limit=cfg.limit,
                         image_size=cfg.image_size)
    info = splits.info
    network = {k: v for k, v in network.items() if v is not None}
    network.update(input_size=info.input_size, in_channels=info.in_channels, num_classes=info.num_classes)
    space = make_space(space, **network) if space else space_for(genotype, **network)
    return Trainer(space, genotype, cfg, splits, run_dir, make_loader, world)
