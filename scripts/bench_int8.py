"""fp32 against int8 on this machine: per operation, and whether the best network under a budget
changes with the precision.

1. Per operation: each space's pieces profiled at fp32 and at int8 (ONNX Runtime's static QDQ
   quantization, per-channel weights; `hwnas profile --validate 0`: the measured rows, before any
   calibration), and per operation the median int8/fp32 ratio of its rows.
2. NAS-Bench-201's optimum (needs ../shared/data/nb201/nb201.csv): over all 15,625 cells, the
   most accurate cell (the benchmark's CIFAR-10 test accuracy) whose table latency keeps a budget
   set at the same quantile of each precision's range of networks, at fp32 and at int8. Do the
   two optima differ, and which is faster when both run quantized? Both are measured at int8 on
   this machine (hwnas' measurement: interleaved runs, their 10th percentile).

    python scripts/bench_int8.py [--tables-dir DIR] [--spaces darts nb201 mbv3] [--quantiles 0.25 0.5]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from hwnas.cli import main as hwnas
from hwnas.device import host_facts, measure_modules, resolve_device
from hwnas.device.agent.host import describe_host
from hwnas.spaces import make_space
from hwnas.table import load_table_for

# (space, its options on the command line): small configurations, profiled in about a minute each
CONFIGS = {"darts": ["--init-channels", "16", "--layers", "8"], "nb201": [], "mbv3": [], "fbnet": ["--input-size", "32"]}


def profile_both(space: str, tables_dir: Path) -> None:
    for precision in ("fp32", "int8"):
        code = hwnas(["profile", "--space", space, *CONFIGS[space], "--precision", precision, "--validate", "0",
                      "--tables-dir", str(tables_dir)])
        if code != 0:
            raise SystemExit(f"profiling {space} at {precision} failed ({code})")


def per_operation(space_name: str, tables_dir: Path) -> None:
    flags = dict(zip([f.lstrip("-").replace("-", "_") for f in CONFIGS[space_name][::2]],
                     map(int, CONFIGS[space_name][1::2])))
    space = make_space(space_name, **flags)
    rows = {p: load_table_for(f"cpu@{p}" if p != "fp32" else "cpu", space, tables_dir=tables_dir).rows
            for p in ("fp32", "int8")}
    both = rows["fp32"].merge(rows["int8"], on=["key", "op"], suffixes=("_fp32", "_int8"))
    both = both[both["latency_ms_fp32"] > 0]
    print(f"\n{space_name} ({' '.join(CONFIGS[space_name]) or 'default network'}): int8 / fp32 per operation "
          f"(median over its rows; rows = shapes)")
    print(f"  {'operation':<26} {'rows':>4} {'fp32 ms':>9} {'int8 ms':>9} {'int8/fp32':>9}")
    for op, group in both.groupby("op"):
        ratio = np.median(group["latency_ms_int8"] / group["latency_ms_fp32"])
        print(f"  {op:<26} {len(group):>4} {group['latency_ms_fp32'].median():>9.4f} "
              f"{group['latency_ms_int8'].median():>9.4f} {ratio:>8.2f}x")


def nb201_optimum(tables_dir: Path, quantiles: list) -> None:
    from hwnas.pareto.nb201_bench import DEFAULT_PATH, NB201Benchmark

    if not DEFAULT_PATH.is_file():
        print(f"\nNAS-Bench-201 optimum: skipped ({DEFAULT_PATH} not found)")
        return
    bench = NB201Benchmark(DEFAULT_PATH)
    space = make_space("nb201")
    x = bench.all_vectors()
    accuracy = 100.0 - bench.error()(x)
    latency = {p: load_table_for(f"cpu@{p}" if p != "fp32" else "cpu", space, tables_dir=tables_dir).costs().many(x)
               for p in ("fp32", "int8")}
    print("\nNAS-Bench-201 (C=16, 5 cells per stage, 32x32): the most accurate cell within a budget at the same "
          "quantile of each precision's table latencies (raw rows, uncalibrated)")
    for q in quantiles:
        best = {}
        for p, lat in latency.items():
            budget = float(np.quantile(lat, q))
            ok = np.flatnonzero(lat <= budget)
            best[p] = (ok[np.argmax(accuracy[ok])], budget)
        (i32, b32), (i8, b8) = best["fp32"], best["int8"]
        g32, g8 = space.decode(x[i32]), space.decode(x[i8])
        line = (f"  quantile {q:.2f}: fp32 budget {b32:.3f} ms -> {accuracy[i32]:.2f}% {g32.arch}; int8 budget "
                f"{b8:.3f} ms -> {accuracy[i8]:.2f}% {g8.arch}")
        if i32 == i8:
            print(line + "; the same cell")
            continue
        timed = measure_modules(resolve_device("cpu@int8"), [lambda g=g: space.build(g) for g in (g32, g8)],
                                space.input_shape, repeats=100, rounds=5)
        t32, t8 = (t.latency_ms for t in timed.timings)
        print(line + f"; different cells; both quantized, measured: fp32's optimum {t32:.3f} ms, int8's {t8:.3f} ms "
              f"(int8 budget {b8:.3f} ms: fp32's optimum {'keeps' if t32 <= b8 else 'breaks'} it, int8's "
              f"{'keeps' if t8 <= b8 else 'breaks'} it)")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables-dir", help="where the tables are profiled (default: a temporary folder)")
    parser.add_argument("--spaces", nargs="+", default=["darts", "nb201", "mbv3"], choices=list(CONFIGS))
    parser.add_argument("--quantiles", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores, onnxruntime {host['onnxruntime']}; device cpu "
          f"(1 thread) at fp32 and at int8")
    with tempfile.TemporaryDirectory() as tmp:
        tables_dir = Path(args.tables_dir or tmp)
        for space in dict.fromkeys([*args.spaces, "nb201"]):
            profile_both(space, tables_dir)
        for space in args.spaces:
            per_operation(space, tables_dir)
        nb201_optimum(tables_dir, args.quantiles)


if __name__ == "__main__":
    run()
