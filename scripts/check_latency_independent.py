"""Check a latency table against networks timed by a plain ONNX Runtime loop, outside hwnas's harness.

Random DARTS networks (C=36, 20 cells, 32x32 by default) are exported to ONNX files; each file
is then timed with nothing but ``onnxruntime.InferenceSession.run`` in a loop (one intra-op
thread, full graph optimisation, as the ``cpu`` device), twice, in separate passes, and
compared with the table's prediction. The second pass gives the re-measure agreement: the
noise ceiling any predictor faces on this machine.

With ``--precision int8`` each exported file is quantized here, by this script's own call of
ONNX Runtime's tools (``quant_pre_process``, then ``quantize_static`` with its defaults except
the QDQ format and per-channel weights, 16 batches of standard-normal calibration data), before
it is timed, and compared with the ``cpu@int8`` table.

    python scripts/check_latency_independent.py --tables-dir DIR [--networks 8] [--runs 300]
        [--precision int8] [--init-channels 16 --layers 8]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from hwnas.device import host_facts
from hwnas.device.agent.host import describe_host
from hwnas.device.agent.timing import input_dtype
from hwnas.table import load_table_for
from hwnas.spaces import make_space


def plain_session(model: Path | bytes, optimized: str = "") -> ort.InferenceSession:
    """A session as the ``cpu`` device opens one: one intra-op thread, full graph optimisation;
    ``optimized``: where ONNX Runtime writes the model it runs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if optimized:
        options.optimized_model_filepath = optimized
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def time_runs(session: ort.InferenceSession, runs: int) -> np.ndarray:
    """Milliseconds of ``runs`` calls of ``session.run`` after 20 warm-up calls, on seeded
    standard-normal input of the model's type."""
    meta = session.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(meta.shape).astype(input_dtype(meta))
    for _ in range(20):
        session.run(None, {meta.name: x})
    out = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        session.run(None, {meta.name: x})
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


def plain_timing(path: Path, runs: int) -> np.ndarray:
    """Milliseconds of ``runs`` calls of ``session.run`` after 20 warm-up calls."""
    return time_runs(plain_session(path), runs)


def quantize_file(path: Path) -> Path:
    """``path`` quantized to int8 (static, QDQ, per-channel weights; 16 standard-normal batches)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class RandomBatches(CalibrationDataReader):
        def __init__(self, model: Path) -> None:
            inputs = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()
            rng = np.random.default_rng(0)
            self.batches = iter([{i.name: rng.standard_normal(i.shape).astype(np.float32) for i in inputs}
                                 for _ in range(16)])

        def get_next(self):
            return next(self.batches, None)

    prepared, quantized = path.with_suffix(".pre.onnx"), path.with_suffix(".int8.onnx")
    quant_pre_process(str(path), str(prepared))
    quantize_static(str(prepared), str(quantized), RandomBatches(prepared), quant_format=QuantFormat.QDQ,
                    per_channel=True)
    return quantized


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables-dir", help="folder of the table profiled on this machine (default: as hwnas reads tables: yours, else the shipped ones)")
    parser.add_argument("--networks", type=int, default=8)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--in-channels", type=int, default=3)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--init-channels", type=int, default=36)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the quantization tool's notes on skipped per-channel axes
    space = make_space("darts", init_channels=args.init_channels, layers=args.layers, input_size=args.input_size,
                       in_channels=args.in_channels)
    device = "cpu" if args.precision == "fp32" else f"cpu@{args.precision}"
    table = load_table_for(device, space, tables_dir=args.tables_dir)
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores, onnxruntime {host['onnxruntime']}; table profiled on "
          f"{table.meta['host']['cpu']}; {args.networks} random DARTS networks C={args.init_channels}, {args.layers} "
          f"cells, {args.input_size}x{args.input_size}x{args.in_channels}, {args.precision}; plain session.run, "
          f"{args.runs} runs, two passes")
    rng = np.random.default_rng(args.seed)
    genotypes = [space.sample(rng) for _ in range(args.networks)]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, g in enumerate(genotypes):
            paths.append(Path(tmp) / f"net{i}.onnx")
            torch.onnx.export(space.build(g).eval(), (torch.zeros(1, *space.input_shape),), str(paths[-1]),
                              dynamo=False, opset_version=17)
            if args.precision == "int8":
                paths[-1] = quantize_file(paths[-1])
        passes = [[plain_timing(p, args.runs) for p in paths] for _ in range(2)]
    print(f"{'net':>3} {'table ms':>9} {'p10 ms':>8} {'err':>7} {'median ms':>10} {'err':>7} | {'p10 again':>9} {'diff':>6}")
    within, within_median, again = 0, 0, 0
    for i, g in enumerate(genotypes):
        pred = table.costs().of(g)
        p10, med, p10b = (float(np.percentile(passes[0][i], 10)), float(np.median(passes[0][i])),
                          float(np.percentile(passes[1][i], 10)))
        err, err_med, diff = 100 * (pred / p10 - 1), 100 * (pred / med - 1), 100 * (p10b / p10 - 1)
        within += abs(err) <= 10
        within_median += abs(err_med) <= 10
        again += abs(diff) <= 10
        print(f"{i:>3} {pred:>9.3f} {p10:>8.3f} {err:>+6.1f}% {med:>10.3f} {err_med:>+6.1f}% | {p10b:>9.3f} {diff:>+5.1f}%")
    n = len(genotypes)
    print(f"table within +-10% of the plain loop's 10th percentile: {within} of {n} (of its median: {within_median} "
          f"of {n}); the two passes agree within +-10%: {again} of {n}")


if __name__ == "__main__":
    main()
