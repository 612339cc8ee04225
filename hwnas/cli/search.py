"""``hwnas search``: differentiable, hardware-aware architecture search."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from hwnas.cli.common import (COUNT, add_device_option, NON_NEGATIVE, POSITIVE, add_command, add_data_options, add_run_options,
                              add_space_option, add_tables_option, changed_by_flags, number, run_folder_of)


def cmd_search(args: argparse.Namespace) -> int:
    """Differentiable search under latency / parameter budgets.

    DARTS/FBNet/GDAS-style search on a proxy supernet whose architecture loss adds the device
    table's differentiable latency (and parameter) penalty for the final network; writes
    runs/NAME/{config.json,metrics.csv,genotype.json,checkpoint.pt}.
    """
    from tqdm import tqdm

    from hwnas import api
    from hwnas.runs import Interrupted
    from hwnas.search.setup import load_run_config

    run_dir = run_folder_of(args)
    asked = _config_from_args(args)
    main = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 reports
    if main and args.limit is None and asked.limit is not None and not args.resume:
        print(f"searching on {asked.limit} {asked.dataset} training images, the CPU default (--limit N to change it; "
              f"5 epochs of nb201 take about 6 minutes on 2 cores)")

    epochs = load_run_config(run_dir).epochs if args.resume and (run_dir / "config.json").is_file() else asked.epochs

    def on_epoch(row: dict) -> None:
        lat = f", derived {row['derived_latency_ms']:.2f} ms (E[LAT] {row['e_latency_ms']:.2f})" \
            if "derived_latency_ms" in row else ""
        tqdm.write(f"epoch {row['epoch']}/{epochs}: val acc {row['val_acc']:.3f}{lat}, "
                   f"params {row['derived_params'] / 1e6:.2f} M")

    started = time.perf_counter()
    argv = getattr(args, "argv", None) or []
    try:
        result = api.run_search(asked, run_dir, resume=args.resume, overwrite=args.overwrite, say=print, progress=True,
                                tensorboard=args.tensorboard, on_epoch=on_epoch,
                                check=lambda recorded: changed_by_flags(asked, recorded, argv, _FLAGS_OF))
    except Interrupted as exc:
        if main:
            print(f"hwnas search: {exc}")
        return 130
    if result is None:  # another rank than 0: rank 0 measures and reports
        return 0
    cfg = result.config
    print(f"search done in {time.perf_counter() - started:.0f} s; genotype: {run_dir / 'genotype.json'}")
    if result.measured is not None:
        print(f"latency on {cfg.device}: {result.measured.describe()}")
        return 0 if result.measured.within else 1
    if result.latency_ms is None:
        print(f"latency unknown: no latency table for the final network on {cfg.device} (the command that builds "
              f"it was printed at the start)")
    else:
        budget = f" (budget {cfg.latency_budget_ms:g} ms{', repaired' if result.repaired else ''})" \
            if cfg.latency_budget_ms else ""
        print(f"table latency on {cfg.device}: {result.latency_ms:.3f} ms{budget}")
    if result.measure_note:
        print(f"the budget was {result.measure_note}")
    return 0


def _stages(text: str) -> list:
    """``2:4,4:2:8`` -> ``[[2, 4], [4, 2, 8]]``."""
    try:
        stages = [[int(v) for v in stage.split(":")] for stage in text.split(",")]
    except ValueError:
        stages = []
    if not stages or any(len(stage) not in (2, 3) for stage in stages):
        raise ValueError(f"--progressive takes EPOCH:KEEP[:LAYERS] stages separated by commas (e.g. 2:4,4:2 or "
                         f"2:3:8,4:2:11), got {text!r}")
    return stages


def _config_from_args(args: argparse.Namespace):
    from hwnas import api

    return api.search_config(
        args.space, latency_budget=args.latency_budget, param_budget=args.param_budget, dataset=args.dataset,
        data_dir=args.data_dir, download=args.download, limit=args.limit, image_size=args.image_size,
        init_channels=args.init_channels, layers=args.layers, final_init_channels=args.final_init_channels,
        final_layers=args.final_layers, relax=args.relax, optimizer=args.optimizer, epochs=args.epochs,
        batch_size=args.batch_size, w_lr=args.w_lr, a_lr=args.a_lr, warmup_epochs=args.warmup_epochs,
        device=args.device, tables_dir=args.tables_dir, latency_loss=args.latency_loss,
        latency_weight=args.latency_weight, max_skip=None if args.max_skip < 0 else args.max_skip,
        beta_decay=args.beta_decay, budget_penalty={"auto": None, "on": True, "off": False}[args.budget_penalty],
        partial_channels=args.partial_channels, progressive=_stages(args.progressive) if args.progressive else None,
        threads=args.threads, seed=args.seed, torch_device=args.torch_device, measure_budget=not args.no_measure)


# Settings set by a flag of another name (the rest: --field-name).
_FLAGS_OF = {"latency_budget_ms": ("--latency-budget",), "measure_budget": ("--no-measure",),
             "device": ("--device", "--precision"),
             "latency_loss": ("--latency-loss", "--latency-budget", "--latency-weight")}


def register(sub: Any) -> None:
    from hwnas.search.config import LOSS_FORMS, OPTIMIZERS, RELAXATIONS

    p = add_command(sub, "search", cmd_search)
    add_space_option(p, help="search space (darts)")
    p.set_defaults(space="darts")
    add_data_options(p)
    p.add_argument("--epochs", type=COUNT, default=5, help="search epochs (5: about a minute on digits)")
    p.add_argument("--batch-size", type=COUNT, default=64, help="batch size (64)")
    add_device_option(p, "target device whose latency table is used (cpu)")
    add_tables_option(p)
    p.add_argument("--latency-budget", help="latency the derived network must meet, e.g. 10ms, 0.01s")
    p.add_argument("--latency-loss", choices=LOSS_FORMS,
                   help="latency loss form (budget when --latency-budget is given)")
    p.add_argument("--latency-weight", type=NON_NEGATIVE, default=0.0,
                   help="weight per ms of the linear latency loss (given alone, it selects --latency-loss linear)")
    p.add_argument("--param-budget", help="parameter budget of the final network, e.g. 1.5M, 800k")
    p.add_argument("--no-measure", action="store_true",
                   help="keep the latency budget in the table only: do not export and time the derived network on "
                   "the device (by default it is measured and repaired until its measured latency keeps the budget)")
    p.add_argument("--budget-penalty", choices=("auto", "on", "off"), default="auto",
                   help="penalise the budgets in the architecture loss; auto: only in spaces too large to list "
                   "(DARTS, FBNet), since NAS-Bench-201's derivation keeps them exactly: the most probable cell "
                   "within them (auto)")
    p.add_argument("--relax", choices=RELAXATIONS, default="softmax", help="relaxation (softmax)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="first",
                   help="bi-level first order, DARTS second order, or one-level (first)")
    p.add_argument("--progressive", metavar="EPOCH:KEEP[:LAYERS],...",
                   help="progressive search (P-DARTS): after each EPOCH keep the KEEP strongest candidates of every "
                   "position, e.g. 2:4,4:2; the dropped ones stop being computed. LAYERS deepens the proxy from "
                   "there on (e.g. 2:3:8,4:2:11), its weights trained anew (default: all epochs with all)")
    p.add_argument("--partial-channels", type=COUNT, default=1, metavar="K",
                   help="PC-DARTS: send 1/K of the channels through the mixed operations, with edge normalisation "
                   "(DARTS; NAS-Bench-201 without it): about K times cheaper steps (1: all channels)")
    p.add_argument("--max-skip", type=number(int, -1), default=2,
                   help="cap on skip connections per derived cell (DARTS: the "
                   "normal cell), against collapse to parameter-free cells (2; -1: no cap)")
    p.add_argument("--beta-decay", type=NON_NEGATIVE, default=0.0, metavar="LAMBDA",
                   help="beta-DARTS regulariser against collapse: LAMBDA x mean logsumexp of the architecture logits, "
                   "its weight rising linearly over the epochs (0: off)")
    p.add_argument("--init-channels", type=COUNT, help="proxy supernet channels (DARTS 16; 8 for tiny images)")
    p.add_argument("--layers", type=COUNT, help="proxy supernet cells (DARTS 8; 5 for tiny images)")
    p.add_argument("--final-init-channels", type=COUNT, help="final network channels for the penalties (DARTS 36)")
    p.add_argument("--final-layers", type=COUNT, help="final network cells for the penalties (DARTS 20)")
    p.add_argument("--w-lr", type=POSITIVE, default=0.025, help="weight learning rate (0.025, cosine to 0.001)")
    p.add_argument("--a-lr", type=POSITIVE, help="architecture learning rate, Adam (3e-4 with >= 10k training "
                   "images as in DARTS; 1e-2 for small data sets, whose searches have only a few hundred steps)")
    p.add_argument("--warmup-epochs", type=number(int, 0), default=0,
                   help="epochs of weight training before arch steps (0)")
    add_run_options(p, "search", "its checkpoint", "the supernet")
