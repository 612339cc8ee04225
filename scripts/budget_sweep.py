"""Budget sweep: search under budgets spread between the cheapest and the dearest network.

First a search with no latency penalty (same seed), whose derived network shows where
accuracy alone leads: a budget below its latency binds (accuracy pushes towards a dearer
network than the budget allows), one above does not. Then for each budget: a DARTS search on
the offline digits data (default settings), the derived genotype's table latency, its measured
end-to-end latency (exported to ONNX, timed in ONNX Runtime with the device's settings), the
share of the budget it uses, and its test accuracy after a short training from scratch.

Profile the table on the machine that runs the sweep, or the measured column compares two hosts:

    hwnas profile --space darts --input-size 8 --in-channels 1 --validate 30 --tables-dir /tmp/tables
    python scripts/budget_sweep.py --tables-dir /tmp/tables [--fractions 0.1 0.3 0.5 0.7 0.9]
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
    from hwnas.export import export_network
    from hwnas.lut import load_table_for
    from hwnas.measure import measure_exported
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare, spaces_for
    from hwnas.train import TrainConfig, Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.3, 0.5, 0.7, 0.9])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tables-dir", help="folder of latency tables (default: the shipped latency_tables/)")
    parser.add_argument("--search-epochs", type=int, default=5)
    parser.add_argument("--train-epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    splits = load_splits("digits", seed=args.seed)
    probe = SearchConfig(space="darts", device=args.device)
    _, final = spaces_for(probe, splits.info.input_size, splits.info.in_channels, splits.info.num_classes)
    table = load_table_for(args.device, final, tables_dir=args.tables_dir)
    best, worst = final.latency_extremes(table.lookup)
    low, high = (float(v) for v in table.predict_many(np.stack([best, worst])))
    held_out = table.meta.get("validation", {}).get("calibrated_heldout") or {}
    print(f"machine: {cpu}, {os.cpu_count()} cores; DARTS space, digits, final C=36/20 cells; device {table.device_id}; "
          f"networks take {low:.3f}-{high:.3f} ms (table); search {args.search_epochs} epochs, seed {args.seed}")
    print(f"table profiled on {table.meta.get('host', {}).get('cpu')}; its validation (held out): MAPE "
          f"{held_out.get('mape_pct', float('nan')):.1f}%, {100 * held_out.get('within_10pct', float('nan')):.0f}% "
          f"within +-10%")
    with tempfile.TemporaryDirectory() as tmp:
        free = prepare(SearchConfig(space="darts", epochs=args.search_epochs, device=args.device,
                                    tables_dir=args.tables_dir, seed=args.seed), Path(tmp) / "free").run()
        free_ms = table.predict(free.genotype)
        print(f"no latency penalty: derived network {free_ms:.3f} ms (table); budgets below it bind")
        print(f"{'budget ms':>9} {'binds':>5} {'table ms':>8} {'used':>5} {'measured ms':>11} {'table err':>9} "
              f"{'repaired':>8} {'supernet val acc':>16} {'test acc':>8}")
        for fraction in args.fractions:
            budget = round(low + fraction * (high - low), 3)
            cfg = SearchConfig(space="darts", epochs=args.search_epochs, device=args.device, latency_budget_ms=budget,
                               latency_loss="budget", tables_dir=args.tables_dir, seed=args.seed)
            searcher = prepare(cfg, Path(tmp) / f"s{fraction}")
            result = searcher.run()
            train_cfg = TrainConfig(epochs=args.train_epochs, seed=args.seed)
            train_splits = load_splits("digits", val_fraction=train_cfg.val_fraction, seed=args.seed, augment=True)
            trainer = Trainer(final, result.genotype, train_cfg, train_splits, Path(tmp) / f"t{fraction}", make_loader)
            trained = trainer.run()
            onnx_path = Path(tmp) / f"m{fraction}.onnx"
            export_network(trainer.model.eval(), final.input_shape, onnx_path)
            measured = measure_exported(onnx_path, final, result.genotype, args.device, tables_dir=args.tables_dir)
            print(f"{budget:>9.3f} {str(budget < free_ms):>5} {result.latency_ms:>8.3f} {100 * result.latency_ms / budget:>4.0f}% "
                  f"{measured.measured.median_ms:>11.3f} {measured.error_pct:>+8.1f}% {str(result.repaired):>8} "
                  f"{result.metrics['val_acc'].iloc[-1]:>16.3f} {trained.test_acc:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
