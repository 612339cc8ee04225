"""The bi-level search loop, its run directory, checkpoints and resumption.

Each step: an architecture step on a validation batch (first order, DARTS' second order, or
none for one-level), then a weight step on a training batch. The architecture loss adds the
table's differentiable latency (and parameter) penalty computed for the *final* network. After
each epoch the space's rule derives a genotype, whose table latency is logged beside E[LAT].

Run directory (see :mod:`hwnas.runs`): ``config.json``, ``metrics.csv`` (one row per epoch),
``checkpoint.pt``; the run's end (:mod:`hwnas.search.result`) adds ``genotype.json`` and
``result.json``. A checkpoint is written at each epoch end, every ``checkpoint_every_s``
seconds, and on Ctrl-C / SIGTERM; ``resume`` continues from it and ends where an uninterrupted
run with the same seed would.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.core.distributed import ALONE, World, global_batchnorm, rank_device
from hwnas.spaces.genotypes import Genotype, genotype_to_json, skip_connections
from hwnas.core.seeding import rng_state, seed_everything, set_rng_state
from hwnas.core.settings import edited_settings
from hwnas.device.threads import ThreadGovernor
from hwnas.runs import Interrupted, RunFolder, StopRequests, stoppable
from hwnas.search.arch import Architecture, temperature
from hwnas.search.config import SearchConfig
from hwnas.search.penalty import Multipliers, penalty_loss
from hwnas.spaces.costs import Costs
from hwnas.search.repair import listable
from hwnas.search.result import SearchResult, finish, keep_budgets, table_budgets
from hwnas.search.stages import proxy_at
from hwnas.search.unrolled import differentiate, frozen_weights, unrolled_arch_grads
from hwnas.spaces import SearchSpace

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 4  # 3: architecture masks (progressive) and edge weights (partial channels); 4: a partial-channel
# DARTS supernet groups the edges out of each state
CHECKPOINT = "checkpoint.pt"
StepProgress = Callable[[Dict[str, float]], None]


def read_checkpoint(run_dir: str | Path, device: Any = "cpu") -> Dict[str, Any]:
    """A search run's checkpoint, checked to be readable and of this hwnas's format."""
    return RunFolder(run_dir).load_checkpoint(CHECKPOINT, CHECKPOINT_VERSION, device, what="search checkpoint")


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == y).float().mean())


class Searcher:
    """One search run over a proxy supernet, penalised with the final network's costs."""

    def __init__(self, config: SearchConfig, proxy: SearchSpace, final: SearchSpace, train_set, val_set,
                 run_dir: str | Path, latency: Optional[Costs] = None, params: Optional[Costs] = None,
                 table=None, make_loader=None, world: World = ALONE) -> None:
        config.validate()
        self.world = world  # data-parallel ranks (see hwnas.core.distributed); ALONE in one process
        self.cfg = config
        self.proxy, self.final = proxy, final
        self.train_set, self.val_set = train_set, val_set
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(run_dir)
        self.latency, self.params, self.table = latency, params, table
        self.latency_range: Dict[str, float] = {}  # the table's cheapest and dearest networks (ms)
        self.missing_table: Optional[str] = None  # why there is no table, for a search that runs without one
        self.make_loader = make_loader
        self.device = torch.device(rank_device(config.torch_device, world))
        seed_everything(config.seed)
        self.first_proxy = proxy  # progressive stages may deepen it (see hwnas.search.stages)
        for stage in config.progressive or []:  # a depth this space cannot take fails now, not stages later
            proxy_at(proxy, config.progressive, stage[0])
        self._build_supernet(proxy)
        self.penalise_budgets = config.budget_penalty if config.budget_penalty is not None else not listable(proxy)
        edge_nodes = proxy.edge_nodes() if config.partial_channels > 1 else None  # PC-DARTS' edge normalisation
        self.arch = Architecture(proxy.arch_shapes(), edge_nodes=edge_nodes).to(self.device)
        world.broadcast_module(self.arch)
        # DARTS' 3e-4 suits its ~20k steps; a search of a few hundred steps needs a faster pace.
        a_lr = config.a_lr if config.a_lr is not None else (3e-4 if len(train_set) >= 10_000 else 1e-2)
        self.a_opt = torch.optim.Adam(self.arch.parameters(), lr=a_lr, betas=(0.5, 0.999),
                                      weight_decay=config.a_weight_decay)
        self.epoch, self.step_in_epoch = 0, 0
        self.multipliers = Multipliers()
        self._derived_cache: Dict[str, Dict[str, float]] = {}
        self.metrics: List[Dict[str, Any]] = []
        self.stop = StopRequests()
        self.epoch_sums: Dict[str, float] = {"loss": 0.0, "acc": 0.0}  # of the epoch under way, for its metrics
        self.epoch_steps = 0
        self.batch_share = (1, 1)  # (this rank's samples, the global batch's) of the step under way

    def _build_supernet(self, proxy: SearchSpace) -> None:
        """The proxy's supernet with its weight optimizer and learning-rate schedule (anew when a
        progressive stage deepens the proxy)."""
        cfg = self.cfg
        self.proxy = proxy
        # channels-last layout: faster convolutions (on this CPU about twice as fast), same results
        self.net = proxy.supernet(**cfg.supernet_options()).to(self.device, memory_format=torch.channels_last)
        if hasattr(self.net, "checkpoint_cells"):
            self.net.checkpoint_cells = 3 if cfg.checkpoint_cells is None else cfg.checkpoint_cells
        self.net = global_batchnorm(self.net, self.world)
        self.world.broadcast_module(self.net)  # the same seed already made them equal; this guarantees it
        self.w_opt = torch.optim.SGD(self.net.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                                     weight_decay=cfg.w_weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, cfg.epochs, eta_min=cfg.w_lr_min)

    def _deepen(self) -> None:
        """The deeper proxy of the stage that begins now, its weights new; the cosine schedule
        goes on where it was."""
        schedule = self.scheduler.state_dict()
        self._build_supernet(proxy_at(self.first_proxy, self.cfg.progressive, self.epoch))
        self.scheduler.load_state_dict(schedule)
        for group, lr in zip(self.w_opt.param_groups, self.scheduler.get_last_lr()):
            group["lr"] = lr

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.folder / CHECKPOINT

    def save_checkpoint(self) -> None:
        if not self.world.is_main:  # every rank holds the same state; rank 0 writes it
            return
        self.folder.save_checkpoint(CHECKPOINT, CHECKPOINT_VERSION, {
            "config": self.cfg.to_dict(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
            "supernet": self.net.state_dict(), "arch": self.arch.state_dict(),
            "w_opt": self.w_opt.state_dict(), "a_opt": self.a_opt.state_dict(),
            "scheduler": self.scheduler.state_dict(), "rng": rng_state(),
            "multipliers": self.multipliers.to_list(),
            "epoch_sums": {**self.epoch_sums, "steps": self.epoch_steps},
            "metrics": self.metrics, "arch_probs": {k: p.detach().cpu() for k, p in self.arch.probs().items()},
        })

    def load_checkpoint(self) -> None:
        ckpt = None
        if self.world.is_main:
            ckpt = self.folder.load_checkpoint(CHECKPOINT, CHECKPOINT_VERSION, "cpu", what="search to resume")
        ckpt = self.world.broadcast(ckpt)  # rank 0 reads it and sends it on: the others' disks need not hold it
        edited = edited_settings(ckpt["config"], self.cfg.to_dict(), self.folder / CHECKPOINT,
                                 self.run_dir / "config.json")  # how it runs may change, not what
        if edited:
            raise ValueError(edited)
        proxy = proxy_at(self.first_proxy, self.cfg.progressive, ckpt["epoch"])
        if proxy is not self.proxy:  # a progressive stage deepened it
            self._build_supernet(proxy)
        self.net.load_state_dict(ckpt["supernet"])
        self.arch.load_state_dict(ckpt["arch"])
        self.w_opt.load_state_dict(ckpt["w_opt"])
        self.a_opt.load_state_dict(ckpt["a_opt"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch, self.step_in_epoch = ckpt["epoch"], ckpt["step_in_epoch"]
        self.multipliers = Multipliers(*ckpt["multipliers"])
        self.metrics = ckpt["metrics"]
        self._resume_rng = ckpt["rng"]
        sums = dict(ckpt.get("epoch_sums") or {"loss": 0.0, "acc": 0.0, "steps": 0})
        self.epoch_steps = int(sums.pop("steps"))
        self.epoch_sums = sums

    # -- losses ----------------------------------------------------------------------------------
    def _tau(self) -> float:
        return temperature(self.epoch, self.cfg.epochs, self.cfg.tau_max, self.cfg.tau_min)

    def _penalised(self, ce: torch.Tensor) -> torch.Tensor:
        """CE plus the latency / parameter penalties.

        A budget binds the *derived* network, so its hinge is straight-through: its value is the
        derived network's cost (table latency, exact parameters), its gradient that of the
        expectation. The expectation over near-uniform weights sits far above what the argmax
        derivation picks, so a hinge on it alone pushes the derived network well under budget.
        """
        cfg = self.cfg
        probs = self.arch.probs()
        loss = ce
        budgets = self.penalise_budgets and (cfg.latency_loss == "budget" or cfg.param_budget)
        derived = self.derived_costs(self.derive()) if budgets else {}
        if self.latency is not None and cfg.latency_loss and (budgets or cfg.latency_loss != "budget"):
            lat = self.latency.expected(probs)
            if cfg.latency_loss == "budget":
                lat = lat - lat.detach() + derived["derived_latency_ms"]
            loss = penalty_loss(ce, lat, cfg.latency_loss, cfg.latency_budget_ms, cfg.latency_weight,
                                self.multipliers.latency)
        if self.params is not None and cfg.param_budget and budgets:
            e_params = self.params.expected(probs)
            e_params = e_params - e_params.detach() + derived["derived_params"]
            loss = loss + self.multipliers.params * F.relu(e_params / cfg.param_budget - 1.0)
        if cfg.beta_decay:  # beta-DARTS: its weight rises linearly from the first epoch to the full value
            loss = loss + cfg.beta_decay * (self.epoch + 1) / cfg.epochs * self.arch.beta_decay()
        return loss

    def _arch_step(self, xv, yv, xt, yt) -> None:
        self.a_opt.zero_grad(set_to_none=True)
        if self.cfg.optimizer == "second":
            self._second_order_grads(xv, yv, xt, yt)
        else:
            with frozen_weights(self.net):
                weights = self.arch.weights(self.cfg.relax, self._tau())
                differentiate(self.net, self._penalised(F.cross_entropy(self.net(xv, weights), yv)))
        self.world.average_gradients(self.arch.parameters(), *self.batch_share)
        self.a_opt.step()

    def _second_order_grads(self, xv, yv, xt, yt) -> None:
        """DARTS' unrolled gradient (see :func:`~hwnas.search.unrolled.unrolled_arch_grads`); the
        virtual step's learning rate is the weights' current one unless set."""
        xi = self.cfg.unrolled_lr if self.cfg.unrolled_lr is not None else self.scheduler.get_last_lr()[0]
        # the optimizer's momentum term, as in the original code's virtual step
        momentum = [None if self.w_opt.state.get(p, {}).get("momentum_buffer") is None
                    else self.cfg.w_momentum * self.w_opt.state[p]["momentum_buffer"] for p in self.net.parameters()]
        unrolled_arch_grads(self.net, self.arch, self._penalised, xi, self.cfg.w_weight_decay, self.cfg.hessian_radius,
                            xv, yv, xt, yt, momentum=momentum)

    def _weight_step(self, xt, yt, arch_too: bool) -> Dict[str, float]:
        weights = self.arch.weights(self.cfg.relax, self._tau())
        if not arch_too:
            weights = {k: w.detach() for k, w in weights.items()}
        self.w_opt.zero_grad(set_to_none=True)
        if arch_too:
            self.a_opt.zero_grad(set_to_none=True)
        logits = self.net(xt, weights)
        ce = F.cross_entropy(logits, yt)
        differentiate(self.net, self._penalised(ce) if arch_too else ce)
        self.world.average_gradients([*self.net.parameters(), *(self.arch.parameters() if arch_too else ())],
                                     *self.batch_share)
        nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.grad_clip)
        self.w_opt.step()
        if arch_too:
            self.a_opt.step()
        return {"loss": float(ce.detach()), "acc": accuracy(logits.detach(), yt)}

    # -- evaluation and derivation -------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate(self, loader) -> Dict[str, float]:
        self.net.eval()
        weights = self.arch.probs() if self.cfg.relax == "softmax" else self._one_hot_argmax()
        total, correct, loss = 0, 0, 0.0
        for x, y in loader:
            x, y = self.world.shard(x.to(self.device), y.to(self.device))
            logits = self.net(x, weights)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
        self.net.train()
        loss, correct, total = self.world.sum([loss, correct, total])
        return {"val_loss": loss / max(total, 1), "val_acc": correct / max(total, 1)}

    def _one_hot_argmax(self) -> Dict[str, torch.Tensor]:
        return {k: F.one_hot(p.argmax(-1), p.shape[-1]).float() for k, p in self.arch.probs().items()}

    def derive(self) -> Genotype:
        return self.proxy.derive(self.arch.numpy_probs(), max_skip=self.cfg.max_skip)

    def derived_costs(self, genotype: Genotype) -> Dict[str, float]:
        """Exact parameters and table latency of a genotype's final network (cached: the budget
        penalties ask for them at every step)."""
        key = genotype_to_json(genotype)
        if key not in self._derived_cache:
            x = self.final.encode(genotype)[None]
            out = {"derived_params": float(self.final.params.many(x)[0])}
            if self.table is not None:
                out["derived_latency_ms"] = float(self.table.costs().many(x)[0])
            self._derived_cache[key] = out
        return self._derived_cache[key]

    # -- the loop ----------------------------------------------------------------------------------
    def _loaders(self, epoch: int):
        seed = self.cfg.seed * 1000 + epoch
        train = self.make_loader(self.train_set, self.cfg.batch_size, shuffle=True, seed=seed,
                                 num_workers=self.cfg.num_workers, drop_last=True)
        val = self.make_loader(self.val_set, self.cfg.batch_size, shuffle=True, seed=seed + 500_000,
                               num_workers=self.cfg.num_workers, drop_last=True)
        return train, val

    def run(self, resume: bool = False, progress: Optional[StepProgress] = None,
            on_epoch: Optional[Callable[[Dict[str, Any]], None]] = None) -> SearchResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.load_checkpoint()
        else:
            if self.world.is_main:
                self.folder.write_config(search=self.cfg.to_dict(), proxy=self.proxy.config(),
                                         final=self.final.config(), distributed=self.world.describe(),
                                         table=self.table.meta.get("device_id") if self.table is not None else None)
        self.threads = ThreadGovernor(self.cfg.threads, share=self.world.local_size)
        self.threads.start()
        # The first Ctrl-C / SIGTERM stops at the end of the current step (so the checkpoint is
        # consistent); a second Ctrl-C stops at once, keeping the last periodic checkpoint.
        with stoppable(self.stop, f"stopped at once; the last checkpoint in {self.checkpoint_path} is kept; "
                                  f"continue with --resume"):
            self._run_epochs(progress, on_epoch)
        if self.stop.requested:
            self.save_checkpoint()
            raise Interrupted(f"interrupted at epoch {self.epoch + 1}, step {self.step_in_epoch}; checkpoint saved "
                              f"to {self.checkpoint_path}; continue with --resume")
        if not self.world.is_main:  # rank 0 alone measures the derived network, with the machine to itself
            return None
        return finish(self)

    def _run_epochs(self, progress, on_epoch) -> None:
        cfg = self.cfg
        resume_rng = getattr(self, "_resume_rng", None)
        while self.epoch < cfg.epochs:
            if resume_rng is None or self.step_in_epoch == 0:
                # Each epoch's randomness starts from the seed and the epoch alone.
                seed_everything(cfg.seed * 1000 + self.epoch)
                resume_rng = None
            train, val = self._loaders(self.epoch)
            batches = zip(train, val)
            skip = self.step_in_epoch
            for _ in range(skip):  # fast-forward to where an interrupted epoch stopped
                next(batches)
            if resume_rng is not None:
                set_rng_state(resume_rng)
                resume_rng = None
            started, last_save = time.perf_counter(), time.perf_counter()
            # the running sums of an epoch resumed mid-way continue from the checkpoint's
            sums, steps = (self.epoch_sums, self.epoch_steps) if skip else ({"loss": 0.0, "acc": 0.0}, 0)
            self.epoch_sums, self.epoch_steps = sums, steps
            for (xt, yt), (xv, yv) in batches:
                total = len(yt)
                xt, yt = self.world.shard(xt, yt)
                xv, yv = self.world.shard(xv, yv)
                self.batch_share = (len(yt), total)  # this rank's part of the global batch
                xt, xv = (t.to(self.device, memory_format=torch.channels_last) for t in (xt, xv))
                yt, yv = yt.to(self.device), yv.to(self.device)
                search_arch = self.epoch >= cfg.warmup_epochs
                if search_arch and cfg.optimizer != "one-level":
                    self._arch_step(xv, yv, xt, yt)
                stats = self._weight_step(xt, yt, arch_too=search_arch and cfg.optimizer == "one-level")
                self.step_in_epoch += 1
                steps += 1
                self.threads.tick()
                for k in sums:
                    sums[k] += stats[k]
                self.epoch_steps = steps
                if progress:
                    with torch.no_grad():
                        e_lat = float(self.latency.expected(self.arch.probs())) if self.latency else float("nan")
                    progress({"epoch": self.epoch + 1, "step": self.step_in_epoch, **stats, "e_lat_ms": e_lat})
                self.stop.requested = self.world.any(self.stop.requested)  # every rank stops at the same step
                if self.stop.requested:
                    return
                if time.perf_counter() - last_save > cfg.checkpoint_every_s:
                    self.save_checkpoint()
                    last_save = time.perf_counter()
            self._end_epoch(sums, steps, time.perf_counter() - started, on_epoch)

    def _end_epoch(self, sums, steps, seconds, on_epoch) -> None:
        sums = dict(zip(sums, (v / self.world.size for v in self.world.sum(list(sums.values())))))
        val = self._evaluate(self.make_loader(self.val_set, 256, shuffle=False))
        genotype = self.derive()
        if not self.penalise_budgets:
            # The budgets bind by derivation alone: log the cell the run would return now.
            try:
                genotype, _ = keep_budgets(self, genotype, table_budgets(self))
            except ValueError as exc:  # out of reach: the run's end says so; the epoch logs the argmax
                log.debug("epoch %d: %s", self.epoch + 1, exc)
        costs = self.derived_costs(genotype)
        with torch.no_grad():
            probs = self.arch.probs()
        row: Dict[str, Any] = {
            "epoch": self.epoch + 1, "train_loss": sums["loss"] / max(steps, 1), "train_acc": sums["acc"] / max(steps, 1),
            **val, "e_latency_ms": float(self.latency.expected(probs)) if self.latency else math.nan,
            "e_params": float(self.params.expected(probs)) if self.params else math.nan,
            "alpha_entropy": self.arch.entropy(), "tau": self._tau(), "w_lr": self.scheduler.get_last_lr()[0],
            **costs, "lat_multiplier": self.multipliers.latency, "param_multiplier": self.multipliers.params,
            "skip_connects": skip_connections(genotype),
            "seconds": seconds, "genotype": genotype_to_json(genotype),
        }
        if "derived_latency_ms" in row and self.latency:
            row["latency_gap_ms"] = row["e_latency_ms"] - row["derived_latency_ms"]
            log.info("epoch %d: E[LAT] %.3f ms, derived %.3f ms (gap %+.3f ms)", row["epoch"], row["e_latency_ms"],
                     row["derived_latency_ms"], row["latency_gap_ms"])
        if self.penalise_budgets:
            self.multipliers.adapt(self.cfg, costs)
        self.metrics.append(row)
        self.scheduler.step()
        self.epoch += 1
        self.step_in_epoch = 0
        for stage in self.cfg.progressive or []:  # a progressive search's stage ends here
            if self.epoch == stage[0]:
                self.arch.keep_strongest(stage[1])
                log.info("epoch %d: kept the %d strongest candidates of every position", self.epoch, stage[1])
                if len(stage) > 2:
                    self._deepen()
                    log.info("epoch %d: the proxy has %d layers from here on", self.epoch, stage[2])
        row["candidates"] = self.arch.candidates_kept()
        row["threads"] = self.threads.update()  # those of the next epoch, fitted to the machine's load
        if self.world.is_main:
            self.folder.write_metrics(self.metrics)
        self.save_checkpoint()
        if on_epoch:
            on_epoch(row)
