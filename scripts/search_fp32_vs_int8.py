"""Search at fp32 and at int8 under the same latency budget, with the same seed: do the derived
networks differ, and which is faster when both run quantized?

NAS-Bench-201 on the digits data (8x8x1, C=16, 5 cells per stage): the fp32 and int8 tables of
this machine are profiled (30 whole networks each for the calibration), the budget is set at a
quantile of the int8 table's range of networks, and two searches run with everything equal but
the device's precision (`hwnas search --device cpu` and `--device cpu@int8`). Each derived
network is exported, quantized by this script's own call of ONNX Runtime's tools (as
`check_latency_independent.py --precision int8` does) and timed in a plain ONNX Runtime loop at
int8 and at fp32, twice; medians of the passes' 10th percentiles are printed, with NAS-Bench-201's
CIFAR-10 accuracy of each cell where ../shared/data/nb201/nb201.csv is there.

    python scripts/search_fp32_vs_int8.py [--out DIR] [--quantile 0.5] [--epochs 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from check_latency_independent import plain_timing, quantize_file
from hwnas import api
from hwnas.device import host_facts
from hwnas.device.agent.host import describe_host
from hwnas.spaces import make_space
from hwnas.table import load_table_for

NETWORK = dict(input_size=8, in_channels=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="tables and runs (default: a temporary folder)")
    parser.add_argument("--quantile", type=float, default=0.5, help="budget's place in the int8 table's range (0.5)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=300, help="timed runs per pass of the plain loop (300)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the quantization tool's notes
    out = Path(args.out or tempfile.mkdtemp(prefix="hwnas-fp32-int8-"))
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores, onnxruntime {host['onnxruntime']}; NAS-Bench-201 "
          f"C=16, 5 cells per stage, 8x8x1 (digits); seed {args.seed}, {args.epochs} epochs; output in {out}")
    space = make_space("nb201", **NETWORK)
    devices = {"fp32": "cpu", "int8": "cpu@int8"}
    for device in devices.values():
        api.profile("nb201", device, tables_dir=str(out / "tables"), validate=30, **NETWORK)
    tables = {p: load_table_for(d, space, tables_dir=out / "tables") for p, d in devices.items()}
    low, high = tables["int8"].costs().range()
    budget = round(low + args.quantile * (high - low), 4)
    print(f"int8 table: {low:.3f}-{high:.3f} ms; fp32 table: {' - '.join(f'{v:.3f}' for v in tables['fp32'].costs().range())}"
          f" ms; budget {budget} ms for both searches")
    found = {}
    for precision, device in devices.items():
        result = api.search("nb201", latency_budget=budget, device=device, tables_dir=str(out / "tables"),
                            runs_dir=out / "runs", name=precision, epochs=args.epochs, seed=args.seed)
        found[precision] = result.genotype
        print(f"{precision} search: {result.genotype.arch}; its own check: "
              f"{result.measured.describe() if result.measured else result.measure_note}")
    accuracy = {}
    try:
        from hwnas.pareto.nb201_bench import DEFAULT_PATH, NB201Benchmark

        bench = NB201Benchmark(DEFAULT_PATH)
        accuracy = {p: 100 - float(bench.error()(space.encode(g)[None])[0]) for p, g in found.items()}
    except (FileNotFoundError, ValueError) as exc:
        print(f"(no NAS-Bench-201 accuracies: {exc})")
    if found["fp32"] == found["int8"]:
        print("the two searches derived the same cell")
    paths = {}
    for precision, genotype in found.items():
        paths[precision] = out / f"{precision}.onnx"
        torch.onnx.export(space.build(genotype).eval(), (torch.zeros(1, *space.input_shape),), str(paths[precision]),
                          dynamo=False, opset_version=17)
    quantized = {p: quantize_file(path) for p, path in paths.items()}
    print(f"{'searched at':>11} {'NB201 acc':>9} {'fp32 ms':>8} {'int8 ms':>8}  keeps {budget} ms at int8")
    for precision in found:
        fp32 = np.median([np.percentile(plain_timing(paths[precision], args.runs), 10) for _ in range(2)])
        int8 = np.median([np.percentile(plain_timing(quantized[precision], args.runs), 10) for _ in range(2)])
        acc = f"{accuracy[precision]:.2f}%" if precision in accuracy else "-"
        print(f"{precision:>11} {acc:>9} {fp32:>8.3f} {int8:>8.3f}  {'yes' if int8 <= budget else 'no'}")


if __name__ == "__main__":
    main()
