"""Benchmark: a search step alone and beside a busy process, under several CPU thread settings.

Each setting runs in its own process (OpenMP reads its environment once, at start): a few search
steps of the NAS-Bench-201 supernet (batch 32, 32x32) alone, then the same steps while another
process keeps one core busy. Prints the median step time of each and their ratio.

    python scripts/bench_contention.py [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time

SETTINGS = [  # (name, environment, threads: 0 = torch's default, -1 = hwnas's auto)
    ("default", {}, 0),
    ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}, 0),
    ("1 thread", {}, 1),
    ("hwnas --threads auto", {}, -1),
]


def _spin() -> None:
    while True:
        pass


def steps(n: int, threads: int) -> list:
    import torch
    from torch.utils.data import TensorDataset

    from hwnas.core.data import make_loader
    from hwnas.search.config import SearchConfig
    from hwnas.search.searcher import Searcher
    from hwnas.spaces import make_space

    from hwnas.device.threads import ThreadGovernor

    ThreadGovernor(threads).start()  # -1: fitted to the load now (the run re-fits at each epoch's end)
    proxy = make_space("nb201", init_channels=16, layers=2)
    data = TensorDataset(torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,)))
    s = Searcher(SearchConfig(space="nb201", batch_size=32, epochs=1), proxy, proxy, data, data, "/tmp/hwnas-bench-c",
                 make_loader=make_loader)
    x, y = data.tensors
    times = []
    for _ in range(n + 1):
        start = time.perf_counter()
        s._arch_step(x, y, x, y)
        s._weight_step(x, y, arch_too=False)
        times.append(time.perf_counter() - start)
    return sorted(times[1:])


def one(n: int, threads: int) -> dict:
    alone = steps(n, threads)
    busy = multiprocessing.Process(target=_spin, daemon=True)
    busy.start()
    try:
        beside = steps(n, threads)
    finally:
        busy.terminate()
    import torch

    return {"threads": torch.get_num_threads(), "alone": alone[len(alone) // 2], "beside": beside[len(beside) // 2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.steps, args.one)))
        return
    from hwnas.device import host_facts
    from hwnas.device.agent.host import describe_host

    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores; NB201 supernet C=16, 2 cells per stage, batch 32; "
          f"median of {args.steps} steps after 1 warm-up")
    print(f"{'setting':<26} {'threads':>7} {'alone s':>8} {'beside busy s':>13} {'ratio':>6}")
    for name, env, threads in SETTINGS:
        out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--one", str(threads)],
                             env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=1800)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:<26} {r['threads']:>7} {r['alone']:>8.2f} {r['beside']:>13.2f} {r['beside'] / r['alone']:>6.1f}",
              flush=True)


if __name__ == "__main__":
    main()
