"""The ``hwnas`` command: one subcommand per stage, thin over the library."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading
from typing import Any, Dict, Optional, Sequence

log = logging.getLogger("hwnas")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Shared options


def add_network_options(parser: argparse.ArgumentParser, space_required: bool = False) -> None:
    group = parser.add_argument_group("network (defaults: the space's published final network)")
    group.add_argument("--space", choices=["darts", "nb201", "fbnet"], required=space_required,
                       help="search space" + ("" if space_required else " (default: the genotype's)"))
    group.add_argument("--init-channels", type=int, help="initial channels C (DARTS 36, NB201 16)")
    group.add_argument("--layers", type=int, help="DARTS cells (20) or NB201 cells per stage (5)")
    group.add_argument("--input-size", type=int, help="input height = width (DARTS/NB201 32, FBNet 224)")
    group.add_argument("--in-channels", type=int, help="input channels (3)")
    group.add_argument("--num-classes", type=int, help="classes (DARTS/NB201 10, FBNet 1000)")
    group.add_argument("--auxiliary", action="store_true", help="DARTS: add the auxiliary head")
    group.add_argument("--variant", choices=["cifar", "imagenet"], help="DARTS network variant (cifar)")
    group.add_argument("--head-channels", type=int, help="FBNet: width of the last 1x1 conv (1504)")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits", help="digits (offline, default), cifar10, cifar100, mnist, "
                        "fashion_mnist, svhn, imagefolder")
    parser.add_argument("--data-dir", help="dataset folder (cifar10 etc. also read train/<class>/*.jpg folders)")
    parser.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    parser.add_argument("--limit", type=int, help="use at most this many images per split (quick runs)")
    parser.add_argument("--image-size", type=int, default=32, help="imagefolder: resize images to this side (32)")


def network_options(args: argparse.Namespace) -> Dict[str, Any]:
    keys = ("init_channels", "layers", "input_size", "in_channels", "num_classes", "auxiliary", "variant",
            "head_channels")
    return {k: getattr(args, k, None) for k in keys}


def space_and_genotype(args: argparse.Namespace):
    from hwnas.genotype import PUBLISHED_NETWORK, load_genotype
    from hwnas.spaces import make_space

    genotype = load_genotype(args.genotype)
    if args.space and args.space != genotype.space:
        raise CLIError(f"--space {args.space} does not match the genotype, which is of space {genotype.space}")
    options = network_options(args)
    for key, value in PUBLISHED_NETWORK.get(args.genotype, {}).items():  # unless given on the command line
        if options.get(key) is None:
            options[key] = value
    return make_space(genotype.space, **options), genotype


# ---------------------------------------------------------------------------------------------
# Subcommands


def cmd_info(args: argparse.Namespace) -> int:
    from hwnas.counting import count_flops, count_params

    space, genotype = space_and_genotype(args)
    model = space.build(genotype)
    cfg = space.config()
    info: Dict[str, Any] = {
        "space": space.name,
        "genotype": genotype.to_dict(),
        "config": cfg,
        "params": count_params(model, include_aux=True),
        "params_include_aux": bool(cfg.get("auxiliary")),
        "flops": count_flops(model, space.input_shape),
        "input_shape": list(space.input_shape),
    }
    if cfg.get("auxiliary"):
        info["params_without_aux"] = count_params(model)
    if args.device:
        from hwnas.lut import load_table_for

        table = load_table_for(args.device, space, tables_dir=args.tables_dir)
        info["latency_ms"] = float(table.predict(genotype))
        info["device"] = table.device_id
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    rows = [("space", space.name), ("input", "x".join(map(str, space.input_shape)))]
    aux_note = " (auxiliary head included)" if cfg.get("auxiliary") else " (no auxiliary head)" if space.name == "darts" else ""
    rows.append(("parameters", f"{info['params']:,}{aux_note}"))
    if "params_without_aux" in info:
        rows.append(("parameters w/o aux", f"{info['params_without_aux']:,}"))
    rows.append(("FLOPs (multiply-adds)", f"{info['flops']:,} ({info['flops'] / 1e6:.1f} M)"))
    if "latency_ms" in info:
        rows.append((f"latency on {info['device']} (table)", f"{info['latency_ms']:.3f} ms"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hwnas.export import export_network, load_weights

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
        from hwnas.measure import measure_exported

        result = measure_exported(args.out, space, genotype, args.device or "cpu", tables_dir=args.tables_dir)
        print(result.describe())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hwnas.demo import run_demo

    report = run_demo(args.out, device=args.device, budget_fraction=args.budget_fraction,
                      search_epochs=args.search_epochs, train_epochs=args.train_epochs,
                      pareto_evaluations=args.pareto_evaluations, seed=args.seed, say=print, resume=args.resume)
    print(f"\nreport: {report}")
    return 0


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwnas", description="Hardware-aware neural architecture search: profile a device, search under a "
        "latency budget, extract Pareto fronts, train and export.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details; show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("info", help="parameters, FLOPs (and table latency) of a genotype",
                       description="Print the parameter count and FLOPs (multiply-adds, counted with fvcore) of "
                       "a genotype's final network; with --device, its latency predicted by the device's table.")
    p.add_argument("genotype", help="a genotype JSON file, JSON text, or a published name (darts_v1, darts_v2, "
                   "fbnet_a, fbnet_b, fbnet_c)")
    add_network_options(p)
    p.add_argument("--device", help="add the latency predicted by this device's table (name, cuda:N or YAML)")
    p.add_argument("--tables-dir", help="folder of latency tables (default: the shipped latency_tables/)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export", help="export a genotype's network to ONNX and verify it in ONNX Runtime",
                       description="Export to ONNX, run onnx.checker, then compare ONNX Runtime's output with "
                       "PyTorch's on the same random input; fails (writing nothing) above tolerance.")
    p.add_argument("genotype", help="a genotype JSON file, JSON text, or a published name")
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--weights", help="trained weights (a state dict or an hwnas train checkpoint)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (17)")
    p.add_argument("--dynamic-batch", action="store_true", help="let the batch dimension vary")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance of the parity check (1e-4)")
    p.add_argument("--rtol", type=float, default=1e-3, help="tolerance relative to max |output| (1e-3)")
    p.add_argument("--measure", action="store_true", help="measure end-to-end latency on --device beside the "
                   "table's prediction")
    p.add_argument("--device", help="device for --measure (default cpu)")
    p.add_argument("--tables-dir", help="folder of latency tables (default: the shipped latency_tables/)")
    add_network_options(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="the whole pipeline on the offline digits data (a few minutes on a CPU)",
                       description="Latency table, search under a budget between the cheapest and the dearest "
                       "network, Pareto front, training, ONNX export and measurement; writes OUT/report.md.")
    p.add_argument("--out", default="runs/demo", help="output folder (runs/demo)")
    p.add_argument("--device", default="cpu", help="device (cpu)")
    p.add_argument("--budget-fraction", type=float, default=0.15,
                   help="budget position between the cheapest (0) and dearest (1) network (0.15: tight enough to "
                   "bind, below what the search would pick without a budget)")
    p.add_argument("--search-epochs", type=int, default=5, help="search epochs (5)")
    p.add_argument("--train-epochs", type=int, default=15, help="training epochs (15)")
    p.add_argument("--pareto-evaluations", type=int, default=200, help="genotypes the Pareto stage evaluates (200)")
    p.add_argument("--seed", type=int, default=0, help="seed (0)")
    p.add_argument("--resume", action="store_true", help="continue a demo stopped with Ctrl-C or SIGTERM from its "
                   "files (the same options as the stopped run)")
    p.set_defaults(func=cmd_demo)

    for module in STAGE_COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


# Modules adding the other stages' subcommands (kept apart so each stays small).
STAGE_COMMANDS = ("hwnas.cli_profile", "hwnas.cli_search", "hwnas.cli_pareto", "hwnas.cli_train")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # what was typed: commands that resume refuse flags that would change the run
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from hwnas.device import DeviceUnavailableError
    from hwnas.genotype import GenotypeError
    from hwnas.interrupts import Interrupted
    from hwnas.lut import MissingRowsError

    on_main = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main else None  # a kill stops like Ctrl-C
    try:
        return int(args.func(args) or 0)
    except (CLIError, GenotypeError, DeviceUnavailableError, MissingRowsError, FileNotFoundError, ValueError,
            OSError) as exc:  # OSError: a full disk, a folder where a file should be, no permission
        if args.verbose:
            raise
        print(f"hwnas {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:  # stopped after saving: says how to continue
        print(f"hwnas {args.command}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"hwnas {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a defect of hwnas, not the user's mistake: keep the details, say where
        if args.verbose:
            raise
        path = _write_traceback(args.command)
        print(f"hwnas {args.command}: unexpected error ({type(exc).__name__}: {exc}); this is a bug in hwnas. "
              f"The traceback is in {path}; please report it with that file (or rerun with --verbose)",
              file=sys.stderr)
        return 1
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _write_traceback(command: str) -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix=f"hwnas-{command}-traceback-", suffix=".txt", delete=False) as f:
        f.write(traceback.format_exc())
    return f.name


if __name__ == "__main__":
    sys.exit(main())
