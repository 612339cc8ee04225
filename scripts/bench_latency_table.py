"""Benchmark: latency-table build and fit time, accuracy against whole networks, noise ceiling.

For each space at a final configuration (the defaults, or the digits inputs with ``--digits``):
build the table from scratch on the device, then measure N whole networks (half random, half
search-like, plus one per operation), fit the calibration on two thirds and score it on the
held-out third, next to the raw sum and to this machine's re-measure agreement (the same
networks measured twice: the ceiling for any predictor here). Also times vectorised prediction.

    python scripts/bench_latency_table.py [--device cpu] [--n 100] [--spaces darts nb201 fbnet] [--digits]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from hwnas.profile.calibrate import validate_and_calibrate
from hwnas.device import host_facts, resolve_device
from hwnas.device.agent.host import describe_host
from hwnas.table import table_path
from hwnas.spaces import make_space
from hwnas.profile.build import build_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=100, help="validation networks per space (100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the validation networks (1)")
    parser.add_argument("--spaces", nargs="+", default=["darts", "nb201", "fbnet"])
    parser.add_argument("--digits", action="store_true", help="8x8x1 inputs (the digits data) instead of the defaults")
    args = parser.parse_args()
    device = resolve_device(args.device)
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores, onnxruntime {host['onnxruntime']}"
          f"; device {device.id} ({device.provider}, "
          f"{device.intra_op_threads or 'all'} intra-op thread(s)); {args.n} networks per space, seed {args.seed}")
    print(f"{'space':<6} {'rows':>4} {'build s':>7} {'fit s':>6} | {'raw held-out':^22} | {'calibrated held-out':^22} | "
          f"{'model':>14} | {'re-measure':>10} | {'predict/s':>9}")
    print(f"{'':<6} {'':>4} {'':>7} {'':>6} | {'MAPE':>6} {'<=10%':>6} {'rho':>6}   | {'MAPE':>6} {'<=10%':>6} "
          f"{'rho':>6}   | {'':>14} | {'<=10%':>10} |")
    options = {"input_size": 8, "in_channels": 1} if args.digits else {}
    with tempfile.TemporaryDirectory() as tables:
        for name in args.spaces:
            space = make_space(name, **options)
            started = time.perf_counter()
            table = build_table(space, device, tables_dir=tables)
            built = time.perf_counter() - started
            started = time.perf_counter()
            result = validate_and_calibrate(table, table_path(device.id, space, tables), device, n=args.n,
                                            seed=args.seed)
            fitted = time.perf_counter() - started
            x = np.stack([space.encode(space.sample(np.random.default_rng(i))) for i in range(1000)])
            x = np.tile(x, (100, 1))
            started = time.perf_counter()
            table.costs().many(x)
            rate = len(x) / (time.perf_counter() - started)
            raw, cal = result["raw_heldout"], result["calibrated_heldout"]
            model = result["calibration"]["model"] if result["calibrated"] else "raw"
            print(f"{name:<6} {len(table.rows):>4} {built:>7.1f} {fitted:>6.0f} | {raw['mape_pct']:>5.1f}% "
                  f"{100 * raw['within_10pct']:>5.0f}% {raw['spearman']:>6.3f}   | {cal['mape_pct']:>5.1f}% "
                  f"{100 * cal['within_10pct']:>5.0f}% {cal['spearman']:>6.3f}   | {model:>14} | "
                  f"{100 * result['noise']['remeasure_within_10pct']:>9.0f}% | {rate:>9.2e}", flush=True)
    print("held-out: the last third of the networks, never used to choose or fit the model; re-measure: share of "
          "networks whose two halves of interleaved runs agree within +-10%; statistic: 10th percentile")


if __name__ == "__main__":
    main()
