"""Run several ``hwnas search`` runs as Ray tasks: a sweep over latency (or parameter) budgets.

Each budget is one search, one core, on a Ray worker (a local Ray started for the sweep, or an
existing cluster with ``--ray-address``); every search writes its own run folder
``RUNS/sweep-<budget>``. Searches that share a machine slow each other, so their derived
networks keep the budgets in table terms here (``--no-measure``); measure each afterwards, alone
on the target, with ``hwnas export GENOTYPE --out NET.onnx --measure`` (the printed commands). Needs
``pip install 'hwnas[ray]'``.

    python scripts/ray_sweep.py --latency-budgets 0.05ms 0.1ms 0.2ms --workers 2 \\
        -- --space nb201 --dataset digits --epochs 3
    python scripts/ray_sweep.py --param-budgets 50k 100k --ray-address auto -- --space nb201 ...
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path


def search_task(argv: list) -> dict:
    """One search in a Ray worker, with one thread; its exit status and result."""
    import torch

    from hwnas.cli import main

    torch.set_num_threads(1)
    started = time.perf_counter()
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):  # the one-line error of a search that could not run
        code = main(argv)
    run_dir = Path(argv[argv.index("--runs-dir") + 1]) / argv[argv.index("--name") + 1]
    result = json.loads((run_dir / "result.json").read_text()) if code == 0 else {}
    return {"run": str(run_dir), "code": code, "seconds": time.perf_counter() - started,
            "error": (errors.getvalue().strip().splitlines() or [""])[-1] if code else "", **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="flags after -- go to every hwnas search")
    budgets = parser.add_mutually_exclusive_group(required=True)
    budgets.add_argument("--latency-budgets", nargs="+", metavar="B", help="e.g. 0.5ms 1ms")
    budgets.add_argument("--param-budgets", nargs="+", metavar="P", help="e.g. 200k 1M")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="searches at once (the cores)")
    parser.add_argument("--ray-address", help="an existing Ray cluster (default: a local one for the sweep)")
    parser.add_argument("--runs-dir", default="runs", help="where the run folders go (runs)")
    parser.add_argument("search_flags", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    flags = [f for f in args.search_flags if f != "--"]
    try:
        import ray
    except ImportError:
        sys.exit("ray_sweep.py needs Ray: pip install 'hwnas[ray]'")
    ray.init(address=args.ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             **({} if args.ray_address else {"num_cpus": args.workers}))
    option, values = ("--latency-budget", args.latency_budgets) if args.latency_budgets else \
        ("--param-budget", args.param_budgets)
    task = ray.remote(num_cpus=1)(search_task)
    started = time.perf_counter()
    pending = [task.remote(["search", *flags, option, value, "--runs-dir", str(Path(args.runs_dir).resolve()),
                            "--name", f"sweep-{value}", "--no-measure", "--threads", "1", "--overwrite"])
               for value in values]
    results = ray.get(pending)
    ray.shutdown()
    print(f"{len(values)} searches on {args.workers} Ray workers in {time.perf_counter() - started:.0f} s")
    print(f"{'budget':>10} {'status':>6} {'seconds':>7} {'table ms':>9} {'params':>9}  run (or why it failed)")
    for value, r in zip(values, results):
        lat = f"{r['latency_ms']:.3f}" if r.get("latency_ms") is not None else "-"
        print(f"{value:>10} {r['code']:>6} {r['seconds']:>7.0f} {lat:>9} {r.get('params', '-'):>9}  "
              f"{r['error'] or r['run']}")
    print("measure each alone on the target, with the search's network options: " + "; ".join(
        f"hwnas export {r['run']}/genotype.json --out {r['run']}/network.onnx --measure"
        for r in results if r["code"] == 0))


if __name__ == "__main__":
    main()
