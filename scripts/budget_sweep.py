"""Budget sweep: does the searched network keep its latency budget when it is measured?

First a search with no latency penalty (same seed): its derived network shows where accuracy
alone leads. Budgets are then set between the space's cheapest network and that one (30% and
60% of the way by default), so every budget binds. For each: a DARTS search on the offline
digits data (default settings, the budget measured and repaired at the end of the search), the
derived genotype's table latency, hwnas's own measurement, and an independent one: the exported
network timed by a plain ``onnxruntime`` loop (``scripts/check_latency_independent.py``),
whose 10th percentile must be at most the budget (3% noise allowance) and use at least 75% of it.

Profile the table on the machine that runs the sweep, or the measurements compare two hosts:

    hwnas profile --space darts --input-size 8 --in-channels 1 --validate 100 --tables-dir /tmp/tables
    python scripts/budget_sweep.py --tables-dir /tmp/tables [--fractions 0.3 0.6] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from check_latency_independent import plain_timing
from hwnas.core.data import load_splits
from hwnas.device import host_facts
from hwnas.device.agent.host import describe_host
from hwnas.table import load_table_for
from hwnas.search.config import SearchConfig
from hwnas.search.setup import prepare, spaces_for

ALLOWANCE = 1.03


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.3, 0.6])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tables-dir", help="folder of latency tables (default: as hwnas reads them: yours, else the shipped ones)")
    parser.add_argument("--search-epochs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=300, help="runs of the independent timing loop")
    args = parser.parse_args()
    splits = load_splits("digits", seed=0)
    probe = SearchConfig(space="darts", device=args.device)
    _, final = spaces_for(probe, splits.info.input_size, splits.info.in_channels, splits.info.num_classes)
    table = load_table_for(args.device, final, tables_dir=args.tables_dir)
    low, _ = table.costs().range()
    held_out = table.meta.get("validation", {}).get("calibrated_heldout") or {}
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores; DARTS space, digits, final C=36/20 cells; device "
          f"{table.device_id}; cheapest network {low:.3f} ms (table); search {args.search_epochs} epochs")
    print(f"table profiled on {table.meta.get('host', {}).get('cpu')}; held-out: MAPE "
          f"{held_out.get('mape_pct', float('nan')):.1f}%, {100 * held_out.get('within_10pct', float('nan')):.0f}% "
          f"within +-10%")
    print(f"{'seed':>4} {'free ms':>7} {'budget ms':>9} {'table ms':>8} {'hwnas ms':>8} {'fixes':>5} | "
          f"{'plain p10':>9} {'median':>7} {'used':>5} {'kept':>5}")
    kept, used_ok, total = 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            free = prepare(SearchConfig(space="darts", epochs=args.search_epochs, device=args.device,
                                        tables_dir=args.tables_dir, seed=seed), Path(tmp) / f"free{seed}").run()
            free_ms = table.costs().of(free.genotype)
            for fraction in args.fractions:
                budget = round(low + fraction * (free_ms - low), 3)
                cfg = SearchConfig(space="darts", epochs=args.search_epochs, device=args.device,
                                   latency_budget_ms=budget, latency_loss="budget", tables_dir=args.tables_dir,
                                   seed=seed)
                result = prepare(cfg, Path(tmp) / f"s{seed}-{fraction}").run()
                path = Path(tmp) / f"m{seed}-{fraction}.onnx"
                torch.onnx.export(final.build(result.genotype).eval(), (torch.zeros(1, *final.input_shape),),
                                  str(path), dynamo=False, opset_version=17)
                samples = plain_timing(path, args.runs)
                p10, median = float(np.percentile(samples, 10)), float(np.median(samples))
                check = result.measured.measured if result.measured else {}
                total += 1
                kept += p10 <= budget * ALLOWANCE
                used_ok += p10 >= 0.75 * budget
                print(f"{seed:>4} {free_ms:>7.3f} {budget:>9.3f} {result.latency_ms:>8.3f} "
                      f"{check.get('measured_ms', float('nan')):>8.3f} {len(result.measured.checks) - 1 if result.measured else 0:>5} | "
                      f"{p10:>9.3f} {median:>7.3f} {100 * p10 / budget:>4.0f}% {str(p10 <= budget * ALLOWANCE):>5}",
                      flush=True)
    print(f"independent 10th percentile within the budget (+3%): {kept} of {total}; using at least 75% of it: "
          f"{used_ok} of {total}")


if __name__ == "__main__":
    main()
