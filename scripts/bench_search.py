"""Benchmark: seconds per search step and peak resident memory of the supernets.

One step = an architecture step (first order, DARTS second order, or GDAS' hard sample) plus a
weight step, on random 32x32 inputs with 10 classes; the DARTS paper's proxy setting is C=16,
8 cells, batch 64. K is the partial-channel divisor (PC-DARTS: 1/K of the channels through the
mixed operations; 1: the full supernet); R the DARTS cells recomputed in the backward pass
instead of stored (memory for time). Each configuration runs in its own process so its peak
memory (max RSS) is its own; the median over the timed steps is reported after one untimed
warm-up step.

With ``--nproc N`` each configuration also runs data-parallel under torchrun: N processes (gloo)
share the same global batch, each with cores/N threads; its RSS is the sum over the processes.

    python scripts/bench_search.py                  # the table in docs/results/search.md
    python scripts/bench_search.py --steps 5 --batch-size 32
    python scripts/bench_search.py --nproc 2 --only nb201:softmax:first darts:softmax:first
    python scripts/bench_search.py --original-darts DIR --only darts:softmax:first darts:softmax:first:4 \
        darts:softmax:first:4:0

With ``--original-darts DIR`` (a checkout of the DARTS authors' code, quark0/darts on GitHub) the
original supernet's first-order step runs first, in the same run and setting (C=16, 8 cells),
and every DARTS first-order row gets its time and memory as a fraction of the original's. The
original code is imported from DIR as it is; only its ``.cuda()`` calls are made no-ops, so it
runs on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

CONFIGS = [  # (space, relax, optimizer, partial channels K)
    ("darts", "softmax", "first", "1"), ("darts", "softmax", "first", "4"), ("darts", "softmax", "second", "1"),
    ("darts", "softmax", "second", "4"), ("darts", "gdas", "first", "1"), ("nb201", "softmax", "first", "1"),
    ("nb201", "softmax", "first", "4"), ("nb201", "gdas", "first", "1"), ("fbnet", "softmax", "first", "1"),
    ("fbnet", "gdas", "first", "1"),
]


def run_one(space: str, relax: str, optimizer: str, partial: str, recompute: str, batch: int, steps: int,
            threads: int) -> dict:
    import torch
    from torch.utils.data import TensorDataset

    from hwnas.core.data import make_loader
    from hwnas.core.distributed import join_world
    from hwnas.search.config import SearchConfig
    from hwnas.search.searcher import Searcher
    from hwnas.spaces import make_space

    torch.set_num_threads(threads)
    world = join_world("cpu")
    sizes = {"darts": dict(init_channels=16, layers=8), "nb201": dict(init_channels=16, layers=5),
             "fbnet": dict(num_classes=10)}[space]
    proxy = make_space(space, input_size=32, **sizes)
    data = TensorDataset(torch.randn(batch * (steps + 1), 3, 32, 32), torch.randint(0, 10, (batch * (steps + 1),)))
    cfg = SearchConfig(space=space, relax=relax, optimizer=optimizer, batch_size=batch, epochs=1,
                       partial_channels=int(partial), checkpoint_cells=None if recompute == "-" else int(recompute))
    searcher = Searcher(cfg, proxy, proxy, data, data, "/tmp/hwnas-bench-search", make_loader=make_loader,
                        world=world)
    loader = make_loader(data, batch, shuffle=False)
    times = []
    for x, y in loader:
        total = len(y)
        x, y = world.shard(x, y)
        searcher.batch_share = (len(y), total)
        start = time.perf_counter()
        searcher._arch_step(x, y, x, y)
        searcher._weight_step(x, y, arch_too=False)
        times.append(time.perf_counter() - start)
    rss = world.sum([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2])[0]
    return _timings(space, relax, optimizer, partial, batch, world.size, world.is_main,
                    sum(p.numel() for p in searcher.net.parameters()), times, rss,
                    recompute=getattr(searcher.net, "checkpoint_cells", "-"))


def run_original(path: str, batch: int, steps: int, threads: int) -> dict:
    """The original DARTS code's first-order step: ``Architect.step`` on a validation batch,
    then its SGD weight step with gradient clipping, as in its ``train_search.py``."""
    import importlib

    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # the original code is written for one GPU
    nn.Module.cuda = lambda self, *args, **kwargs: self
    sys.path.insert(0, str(Path(path) / "cnn"))
    network = importlib.import_module("model_search").Network
    architect_class = importlib.import_module("architect").Architect
    torch.manual_seed(0)
    criterion = nn.CrossEntropyLoss()
    model = network(16, 10, 8, criterion)
    w_opt = torch.optim.SGD(model.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)
    architect = architect_class(model, SimpleNamespace(momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4,
                                                       arch_weight_decay=1e-3))
    times = []
    for _ in range(steps + 1):
        x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
        start = time.perf_counter()
        architect.step(x, y, x, y, 0.025, w_opt, unrolled=False)
        w_opt.zero_grad()
        criterion(model(x), y).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        w_opt.step()
        times.append(time.perf_counter() - start)
    return _timings("darts", "softmax", "first", 1, batch, 1, True, sum(p.numel() for p in model.parameters()), times,
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, code="original", recompute=0)


def _timings(space, relax, optimizer, partial, batch, nproc, main, weights, times, rss, code="hwnas",
             recompute="-") -> dict:
    timed = sorted(times[1:])  # the first step warms up
    return {"code": code, "space": space, "relax": relax, "optimizer": optimizer, "partial": int(partial),
            "recompute": recompute,
            "batch": batch, "nproc": nproc, "main": main, "weights": weights, "median_s": timed[len(timed) // 2],
            "min_s": timed[0], "max_s": timed[-1], "peak_rss_gb": rss}


def _config(text: str) -> tuple:
    """``space:relax:optimizer[:K[:R]]`` with K=1 and R='-' (the search's default) where left out."""
    parts = text.split(":")
    return tuple(parts + ["1", "-"][max(0, len(parts) - 3):])[:5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--nproc", type=int, default=1,
                        help="also run each configuration data-parallel on this many processes (torchrun, gloo)")
    parser.add_argument("--only", nargs="+", help="configurations as space:relax:optimizer[:K[:R]] (K: partial "
                        "channels, 1 by default; R: DARTS cells recomputed in backward, the search's default by "
                        "default)")
    parser.add_argument("--original-darts", metavar="DIR",
                        help="a checkout of the original DARTS code: run its first-order step first and give every "
                        "DARTS first-order row as a fraction of it")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, _, spec = args.one.partition("=")
        if kind == "original":
            result = run_original(spec, args.batch_size, args.steps, args.threads)
        else:
            result = run_one(*spec.split(":"), args.batch_size, args.steps, args.threads)
        if result["main"]:
            print(json.dumps(result))
        return
    import torch

    configs = [_config(c) for c in args.only] if args.only else [(*c, "-") for c in CONFIGS]
    if args.original_darts and not (Path(args.original_darts) / "cnn" / "model_search.py").is_file():
        parser.error(f"--original-darts {args.original_darts}: no cnn/model_search.py there; give the folder of a "
                     f"checkout of the DARTS authors' code (quark0/darts)")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads; "
          f"batch {args.batch_size}, 32x32, {args.steps} timed steps after 1 warm-up")
    print(f"{'code':8} {'space':6} {'relax':8} {'optimizer':9} {'K':>2} {'R':>2} {'procs':>5} {'weights':>10} "
          f"{'s/step (median)':>15} {'min-max':>13} {'peak RSS GB':>11} {'time/orig':>9} {'mem/orig':>8}")
    runs = [("original=" + args.original_darts, 1)] if args.original_darts else []
    runs += [("hwnas=" + ":".join(config), nproc) for config in configs for nproc in sorted({1, args.nproc})]
    original = None
    for spec, nproc in runs:
        launcher = [sys.executable] if nproc == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        out = subprocess.run([*launcher, __file__, "--one", spec, "--batch-size", str(args.batch_size),
                              "--steps", str(args.steps), "--threads", str(max(1, args.threads // nproc))],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        original = r if r["code"] == "original" else original
        ratios = f"{'':>9} {'':>8}"
        if original and (r["space"], r["optimizer"], r["nproc"]) == ("darts", "first", 1):
            ratios = f"{r['median_s'] / original['median_s']:>9.2f} {r['peak_rss_gb'] / original['peak_rss_gb']:>8.2f}"
        print(f"{r['code']:8} {r['space']:6} {r['relax']:8} {r['optimizer']:9} {r['partial']:>2} "
              f"{r['recompute']:>2} {r['nproc']:>5} "
              f"{r['weights']:>10,} {r['median_s']:>15.2f} {r['min_s']:>6.2f}-{r['max_s']:<6.2f} "
              f"{r['peak_rss_gb']:>11.2f} {ratios}", flush=True)


if __name__ == "__main__":
    main()
