"""``hwnas export``: a genotype's network as a checked ONNX file, optionally measured."""

from __future__ import annotations

import argparse
from typing import Any

from hwnas.cli.common import (NON_NEGATIVE, SEED, add_command, add_data_options, add_device_option, add_network_options,
                              add_tables_option, network_options, number)


def cmd_export(args: argparse.Namespace) -> int:
    """Export a genotype's network to ONNX and verify it in ONNX Runtime.

    Export to ONNX, run onnx.checker, then compare ONNX Runtime's output with PyTorch's on the same
    random input; fails (writing nothing) above tolerance.
    """
    from hwnas import api
    from hwnas.export.quantized import CALIBRATION_IMAGES

    data = {key: getattr(args, key) for key in ("dataset", "data_dir", "download", "seed", "limit", "image_size")}
    done = api.export(args.genotype, args.out, weights=args.weights, space=args.space, device=args.device or "cpu",
                      measure=args.measure, latency_budget=args.latency_budget, accuracy=args.accuracy, data=data,
                      opset=args.opset, dynamic_batch=args.dynamic_batch, atol=args.atol, rtol=args.rtol,
                      tables_dir=args.tables_dir, **network_options(args))
    report = done.report
    checked = (f"onnx.checker passed; ONNX Runtime vs PyTorch max abs diff {report.max_abs_diff:.2e} at batch "
               f"{', '.join(map(str, report.batch_sizes_checked))}")
    if done.precision == "fp32":
        print(f"wrote {args.out} ({report.size_bytes / 1e6:.2f} MB, opset {report.opset}); {checked}")
        if done.accuracy is not None:
            print(f"test accuracy on {done.tested_images} images: {done.accuracy:.2f}%")
    else:
        on = f"{CALIBRATION_IMAGES} training images" if args.accuracy else "random data (add --accuracy for real images)"
        how = (f"ONNX Runtime's static QDQ quantization, per-channel weights, calibrated on {on}"
               if done.precision == "int8" else "onnxconverter-common's conversion, inputs and outputs fp16 too")
        print(f"wrote {args.out} ({done.precision}: {how}; {done.path.stat().st_size / 1e6:.2f} MB, fp32 "
              f"{report.size_bytes / 1e6:.2f} MB); runs in ONNX Runtime; the fp32 network before it: {checked}")
        if done.accuracy is not None:
            print(done.accuracy.describe())
    if done.measured is not None:
        print(done.measured.describe())
        if args.latency_budget is not None and not done.measured.kept:
            return 1
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "export", cmd_export)
    p.add_argument("genotype", help="a genotype JSON file, JSON text, or a published name")
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--weights", help="trained weights (a state dict or an hwnas train checkpoint)")
    p.add_argument("--opset", type=number(int, 9, 20), default=17, help="ONNX opset (17)")
    p.add_argument("--dynamic-batch", action="store_true", help="let the batch dimension vary")
    p.add_argument("--atol", type=NON_NEGATIVE, default=1e-4, help="absolute tolerance of the parity check (1e-4)")
    p.add_argument("--rtol", type=NON_NEGATIVE, default=1e-3, help="tolerance relative to max |output| (1e-3)")
    p.add_argument("--measure", action="store_true", help="measure end-to-end latency on --device beside the "
                   "table's prediction")
    add_device_option(p, "device for --measure (default cpu): a name or a device YAML, whose runner reaches a "
                      "remote target; at --precision int8 or fp16 the file written is the network at that precision",
                      default=None)
    p.add_argument("--accuracy", action="store_true", help="report the network's test accuracy on --dataset (at "
                   "int8 or fp16: beside the fp32 network's; int8 calibrates on its training images)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the data's splits, as the training run's (0)")
    add_data_options(p)
    p.add_argument("--latency-budget", help="with --measure: the budget the network must keep with the noise band, "
                   "e.g. 10ms (exit status 1 where it does not)")
    add_tables_option(p)
    add_network_options(p)
