"""``hwnas export``: a genotype's network as a checked ONNX file, optionally measured."""

from __future__ import annotations

import argparse
from typing import Any

from hwnas.cli.common import (NON_NEGATIVE, CLIError, add_command, add_network_options, add_tables_option, number,
                              space_and_genotype)


def cmd_export(args: argparse.Namespace) -> int:
    """Export a genotype's network to ONNX and verify it in ONNX Runtime.

    Export to ONNX, run onnx.checker, then compare ONNX Runtime's output with PyTorch's on the same
    random input; fails (writing nothing) above tolerance.
    """
    from hwnas.core.units import parse_latency_ms
    from hwnas.export.exporter import export_network, load_weights

    if args.latency_budget is not None and not args.measure:
        raise CLIError("--latency-budget is checked by measuring: add --measure")
    budget = parse_latency_ms(args.latency_budget) if args.latency_budget is not None else None
    space, genotype = space_and_genotype(args)
    model = space.build(genotype)
    if args.weights:
        load_weights(model, args.weights)
    _, report = export_network(model, space.input_shape, args.out, opset=args.opset,
                               dynamic_batch=args.dynamic_batch, atol=args.atol, rtol=args.rtol)
    print(f"wrote {args.out} ({report.size_bytes / 1e6:.2f} MB, opset {report.opset}); onnx.checker passed; "
          f"ONNX Runtime vs PyTorch max abs diff {report.max_abs_diff:.2e} at batch "
          f"{', '.join(map(str, report.batch_sizes_checked))}")
    if args.measure:
        from hwnas.export.measure import measure_exported

        result = measure_exported(args.out, space, genotype, args.device or "cpu", tables_dir=args.tables_dir,
                                  budget_ms=budget)
        print(result.describe())
        if budget is not None and not result.kept:
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
    p.add_argument("--device", help="device for --measure (default cpu): a name or a device YAML, whose runner "
                   "reaches a remote target")
    p.add_argument("--latency-budget", help="with --measure: the budget the network must keep with the noise band, "
                   "e.g. 10ms (exit status 1 where it does not)")
    add_tables_option(p)
    add_network_options(p)
