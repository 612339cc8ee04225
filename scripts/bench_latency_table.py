"""Benchmark: latency-table build time, accuracy against whole networks, repeatability, speed.

For each space at its default final configuration: build the table from scratch on the
device (seconds), validate it on N random networks measured end to end (raw sum and the
per-op calibration on a held-out half), re-time a few pieces to compare the difference with
the spread the tool reports, measure the held-out networks a second time (how often two
measurements of the same network agree within +-10%: the ceiling for any predictor on this
machine), and time vectorised prediction of 100,000 encoded genotypes.

    python scripts/bench_latency_table.py [--device cpu] [--n 30] [--spaces darts nb201 fbnet]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from hwnas.device import host_info, resolve_device
from hwnas.lut import table_path
from hwnas.spaces import make_space
from hwnas.genotype import genotype_from_dict
from hwnas.tablebuild import build_table, measure_network, time_piece, validate_and_calibrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=30, help="validation networks per space (30)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the validation networks (1)")
    parser.add_argument("--spaces", nargs="+", default=["darts", "nb201", "fbnet"])
    args = parser.parse_args()
    device = resolve_device(args.device)
    host = host_info()
    print(f"machine: {host['cpu']}, {host['cores']} cores, {host['platform']}, onnxruntime {host['onnxruntime']}"
          f"{', GPU ' + host['gpu'] if host['gpu'] else ''}; device {device.id} ({device.provider}, "
          f"{device.intra_op_threads or 'all'} intra-op thread(s))")
    rows = []
    with tempfile.TemporaryDirectory() as tables:
        for name in args.spaces:
            space = make_space(name)
            started = time.perf_counter()
            table = build_table(space, device, tables_dir=tables, repeats=100)
            build_s = time.perf_counter() - started
            result = validate_and_calibrate(table, table_path(device.id, space, tables), device, n=args.n,
                                            seed=args.seed)
            # repeatability: re-time the 5 slowest pieces, compare with the reported p10-p90 spread
            slow = table.rows.sort_values("median_ms", ascending=False).head(5)
            pieces = {p.key: p for p in space.all_pieces()}
            diffs, spreads = [], []
            for row in slow.itertuples():
                again = time_piece(space, pieces[row.key], device, 5, 100, 17)
                diffs.append(abs(again.median_ms - row.median_ms))
                spreads.append(row.p90_ms - row.p10_ms)
            # repeatability of the truth: the held-out half measured again
            networks = result["networks"][args.n // 2:]
            again = np.array([measure_network(space, genotype_from_dict(json.loads(n["genotype"])), device).median_ms
                              for n in networks])
            first = np.array([n["measured_ms"] for n in networks])
            repeat_within = float(np.mean(np.abs(again / first - 1) <= 0.10))
            lower, upper = space.bounds
            x = np.random.default_rng(0).integers(lower, upper + 1, size=(100_000, len(lower)))
            table.predict_many(x[:10])
            started = time.perf_counter()
            table.predict_many(x)
            per_s = len(x) / (time.perf_counter() - started)
            rows.append((name, len(table.rows), build_s, result, np.array(diffs), np.array(spreads), repeat_within,
                         per_s))

    print(f"\n{'space':6} {'rows':>4} {'build s':>7} | {'raw: MAPE':>9} {'<=10%':>5} {'rho':>5} | "
          f"{'held-out raw':>12} {'<=10%':>5} | {'held-out cal.':>13} {'<=10%':>5} {'rho':>5} | "
          f"{'re-time |d| / spread':>20} | {'re-measure <=10%':>16} | {'predict/s':>9}")
    for name, n_rows, build_s, r, diffs, spreads, repeat_within, per_s in rows:
        raw, hr, hc = r["raw"], r["raw_heldout"], r["calibrated_heldout"]
        print(f"{name:6} {n_rows:>4} {build_s:>7.1f} | {raw['mape_pct']:>8.1f}% {100 * raw['within_10pct']:>4.0f}% "
              f"{raw['spearman']:>5.2f} | {hr['mape_pct']:>11.1f}% {100 * hr['within_10pct']:>4.0f}% | "
              f"{hc['mape_pct']:>12.1f}% {100 * hc['within_10pct']:>4.0f}% {hc['spearman']:>5.2f} | "
              f"{np.median(diffs) * 1000:>7.1f} us / {np.median(spreads) * 1000:>6.1f} us | "
              f"{100 * repeat_within:>15.0f}% | {per_s:>9.2e}")
    print(f"\nvalidation: {args.n} random networks per space (seed {args.seed}), calibration fitted on the first "
          f"half and scored on the second; re-time: median over the 5 slowest pieces; re-measure: the held-out "
          f"networks measured again, share within +-10% of their first measurement")


if __name__ == "__main__":
    main()
