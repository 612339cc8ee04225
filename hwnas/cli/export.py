"""``hwnas export``: a genotype's network as a checked ONNX file, optionally measured."""

from __future__ import annotations

import argparse
from typing import Any

from hwnas.cli.common import (NON_NEGATIVE, SEED, CLIError, add_command, add_data_options, add_device_option,
                              add_network_options, add_tables_option, number, space_and_genotype)


def cmd_export(args: argparse.Namespace) -> int:
    """Export a genotype's network to ONNX and verify it in ONNX Runtime.

    Export to ONNX, run onnx.checker, then compare ONNX Runtime's output with PyTorch's on the same
    random input; fails (writing nothing) above tolerance.
    """
    from hwnas.core import fileio
    from hwnas.core.units import parse_latency_ms
    from hwnas.device import Model, resolve_device
    from hwnas.export.exporter import export_network, load_weights
    from hwnas.export.quantized import CALIBRATION_IMAGES, compare_accuracy, predictions, quantize

    if args.latency_budget is not None and not args.measure:
        raise CLIError("--latency-budget is checked by measuring: add --measure")
    budget = parse_latency_ms(args.latency_budget) if args.latency_budget is not None else None
    if args.accuracy and not args.weights:
        raise CLIError("--accuracy reports a trained network's accuracy: add --weights")
    space, genotype = space_and_genotype(args)
    model = space.build(genotype)
    if args.weights:
        load_weights(model, args.weights)
    spec = resolve_device(args.device or "cpu")
    int8, reduced = spec.precision == "int8", spec.precision != "fp32"
    if int8 and (args.dynamic_batch or (args.measure and spec.batch_size != 1)):
        raise CLIError(f"an int8 export is quantized at batch 1: leave out --dynamic-batch, and measure it on a device "
                       f"of batch_size 1 (device {spec.name!r} has {spec.batch_size})")
    fp32, report = export_network(model, space.input_shape, None if reduced else args.out, opset=args.opset,
                                  dynamic_batch=args.dynamic_batch, atol=args.atol, rtol=args.rtol)
    checked = (f"onnx.checker passed; ONNX Runtime vs PyTorch max abs diff {report.max_abs_diff:.2e} at batch "
               f"{', '.join(map(str, report.batch_sizes_checked))}")
    splits = _splits(args, space) if args.accuracy else None
    if not reduced:
        print(f"wrote {args.out} ({report.size_bytes / 1e6:.2f} MB, opset {report.opset}); {checked}")
        if splits is not None:
            p, labels = predictions(fp32, splits.test)
            print(f"test accuracy on {len(labels)} images: {100 * float((p == labels).mean()):.2f}%")
    else:
        converted = quantize(Model(fp32, ((1, *space.input_shape),)), splits.train if splits else None, spec.precision)
        fileio.write_bytes(args.out, converted.onnx)
        how = (f"ONNX Runtime's static QDQ quantization, per-channel weights, calibrated on "
               f"{f'{CALIBRATION_IMAGES} training images' if splits else 'random data (add --accuracy for real images)'}"
               if int8 else "onnxconverter-common's conversion, inputs and outputs fp16 too")
        print(f"wrote {args.out} ({spec.precision}: {how}; {len(converted.onnx) / 1e6:.2f} MB, fp32 "
              f"{report.size_bytes / 1e6:.2f} MB); runs in ONNX Runtime; the fp32 network before it: {checked}")
        if splits is not None:
            print(compare_accuracy(fp32, converted.onnx, splits.test, spec.precision).describe())
    if args.measure:
        from hwnas.export.measure import measure_exported

        result = measure_exported(args.out, space, genotype, args.device or "cpu", tables_dir=args.tables_dir,
                                  budget_ms=budget)
        print(result.describe())
        if budget is not None and not result.kept:
            return 1
    return 0


def _splits(args: argparse.Namespace, space: Any):
    """The data set's splits, refused in one line where its images or classes do not fit the network."""
    from hwnas.core.data import load_splits

    splits = load_splits(args.dataset, data_dir=args.data_dir, download=args.download, seed=args.seed,
                         limit=args.limit, image_size=args.image_size)
    info, shape = splits.info, space.input_shape
    data = (info.in_channels, info.input_size, info.input_size, info.num_classes)
    if data != (*shape, space.config()["num_classes"]):
        raise CLIError(f"--accuracy: {args.dataset} has {info.input_size}x{info.input_size}x{info.in_channels} images "
                       f"of {info.num_classes} classes, the network takes {shape[1]}x{shape[2]}x{shape[0]} and has "
                       f"{space.config()['num_classes']}: pass --input-size {info.input_size} --in-channels "
                       f"{info.in_channels} --num-classes {info.num_classes} (as it was trained)")
    return splits


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
