"""``hwnas profile`` and ``hwnas validate``: build and check a device's latency table."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from hwnas.cli.common import (COUNT, SEED, add_command, add_device_option, add_network_options, add_tables_option,
                              network_options, number)


def _print_validation(result: dict) -> None:
    def line(label: str, m: dict) -> str:
        return (f"  {label:<22}: MAPE {m['mape_pct']:5.1f}%, within +-10%: {100 * m['within_10pct']:3.0f}%, "
                f"bias {m['bias_pct']:+5.1f}%, Spearman {m['spearman']:.3f} (n={m['n']})")

    print(f"validation: table vs {result['n']} whole networks measured end to end (10th percentile of "
          f"{result['repeats']} interleaved runs)")
    print(line("raw sum, all", result["raw"]))
    print(line("raw sum, held-out", result["raw_heldout"]))
    print(line("calibrated, held-out", result["calibrated_heldout"]))
    cv = ", ".join(f"{k} {v:.1f}%" for k, v in result["cv_mape_pct"].items())
    print(f"  cross-validated MAPE by model: {cv}")
    print("  the table now uses " + (f"the calibration {result['calibration']['model']} (refitted on all "
                                     f"networks)" if result["calibrated"] else "the raw sum"))
    noise = result["noise"]
    print(f"  noise ceiling: the same networks measured twice agree within +-10% for "
          f"{100 * noise['remeasure_within_10pct']:.0f}% (median difference {noise['remeasure_median_pct']:.1f}%)")
    if "relative_p90_pct" in noise:
        print(f"  noise band of a budget check: {noise['relative_p90_pct']:.1f}% (90th percentile, the machine's drift "
              f"between the two halves divided out)")
    if result.get("load") and result["load"]["busy"]:
        print(f"  warning: other processes kept {result['load']['other_cores']:.2f} cores busy while measuring")


def cmd_profile(args: argparse.Namespace) -> int:
    """Build a device's per-operation latency table through ONNX Runtime.

    Export every (operation, shape) the space's final network can contain, plus its fixed parts,
    to ONNX; time each in ONNX Runtime (warm-up, interleaved repeats, 10th percentile), between
    two neighbouring convolutions whose time is subtracted where the piece keeps its input's
    shape, alone (the per-run overhead subtracted) where it does not; then fit it to whole networks.
    Interrupt and re-run to resume; --force re-measures.
    """
    from hwnas import api
    from hwnas.device.spec import resolve_device
    from hwnas.runs import Interrupted
    from hwnas.spaces import make_space
    from hwnas.table import writable_table_path

    path = writable_table_path(resolve_device(args.device).id, make_space(args.space, **network_options(args)),
                               args.tables_dir)
    typed = [a for a in getattr(args, "argv", ["profile"]) if a != "--force"]  # --force again would start over
    again = " ".join(shlex.quote(a) for a in ["hwnas", *typed])
    try:
        result = api.profile(args.space, args.device, tables_dir=args.tables_dir, force=args.force, warmup=args.warmup,
                             repeats=args.repeats, validate=args.validate, seed=args.seed, say=print, progress=True,
                             **network_options(args))
    except KeyboardInterrupt:  # the rows measured so far are on disk (build_table saves them on the way out)
        raise Interrupted(f"interrupted; the rows measured so far are saved in {path}. To continue where it "
                          f"stopped, run: {again}") from None
    if result.validation is not None:
        _print_validation(result.validation)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a latency table against whole networks measured end to end.

    Measure N whole networks of the space end to end (half random, half search-like, plus one per
    operation); choose and fit the calibration on two thirds by cross-validation, report MAPE, the
    share within +-10% and Spearman on the held-out third beside this machine's re-measure noise;
    record all in the table's sidecar.
    """
    from hwnas.core.progress import progress_bar
    from hwnas.device.spec import resolve_device
    from hwnas.table import load_table_for, writable_table_path
    from hwnas.spaces import make_space
    from hwnas.profile.calibrate import validate_and_calibrate

    device = resolve_device(args.device)
    space = make_space(args.space, **network_options(args))
    table = load_table_for(device, space, tables_dir=args.tables_dir)
    # the checked, calibrated table is saved where tables are written: the shipped ones stay as shipped
    result = validate_and_calibrate(table, writable_table_path(device.id, space, args.tables_dir), device, n=args.n,
                                    seed=args.seed, progress=progress_bar(f"validate {device.id}", "net"))
    _print_validation(result)
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "profile", cmd_profile)
    add_device_option(p, "cpu, cpu-all, cuda0, cuda:N or a devices/*.yaml path (cpu)")
    add_network_options(p, space_required=True, tables=True)
    add_tables_option(p, writes=True)
    p.add_argument("--force", action="store_true", help="re-measure every row")
    p.add_argument("--warmup", type=number(int, 0), default=5, help="warm-up runs per piece (5)")
    p.add_argument("--repeats", type=COUNT, default=100, help="timed runs per piece (100)")
    p.add_argument("--validate", type=number(int, 0), default=None, metavar="N",
                   help="then measure N whole networks (half random, half search-like), fit the calibration on two "
                   "thirds and report it on the rest (default: 100, fewer where networks are slow to time, so that it "
                   "takes about 150 s; 0: skip and keep the raw sum)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the validation networks (0)")

    p = add_command(sub, "validate", cmd_validate)
    add_device_option(p, "device (cpu)")
    add_network_options(p, space_required=True, tables=True)
    p.add_argument("--tables-dir", help="folder of the table, read and written (default: read as every command "
                   "reads tables; the checked, calibrated table written to $HWNAS_TABLES or "
                   "~/.local/share/hwnas/latency_tables)")
    p.add_argument("-n", type=number(int, 0), default=100,
                   help="whole networks to measure, half random, half search-like (100)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the validation networks (0)")
