"""``hwnas demo``: the whole pipeline on the offline digits data."""

from __future__ import annotations

import argparse
from typing import Any

from hwnas.cli.common import COUNT, SEED, add_command, add_device_option, number


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole pipeline on the offline digits data (a few minutes on a CPU).

    Latency table, search under a budget between the cheapest and the dearest network, Pareto front,
    training, ONNX export and measurement; writes OUT/report.md.
    """
    from hwnas.demo import run_demo

    report = run_demo(args.out, device=args.device, budget_fraction=args.budget_fraction,
                      search_epochs=args.search_epochs, train_epochs=args.train_epochs,
                      pareto_evaluations=args.pareto_evaluations, seed=args.seed, say=print, resume=args.resume)
    print(f"\nreport: {report}")
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "demo", cmd_demo)
    p.add_argument("--out", default="runs/demo", help="output folder (runs/demo)")
    add_device_option(p, "device (cpu)")
    p.add_argument("--budget-fraction", type=number(float, 0, 1, open_low=True, open_high=True), default=0.15,
                   help="budget position between the cheapest (0) and dearest (1) network (0.15: tight enough to "
                   "bind, below what the search would pick without a budget)")
    p.add_argument("--search-epochs", type=COUNT, default=5, help="search epochs (5)")
    p.add_argument("--train-epochs", type=COUNT, default=15, help="training epochs (15)")
    p.add_argument("--pareto-evaluations", type=COUNT, default=200, help="genotypes the Pareto stage evaluates (200)")
    p.add_argument("--seed", type=SEED, default=0, help="seed (0)")
    p.add_argument("--resume", action="store_true", help="continue a demo stopped with Ctrl-C or SIGTERM from its "
                   "files (the same options as the stopped run)")
