"""Why do whole networks differ from the sum of their pieces? The experiment behind the docs' latency results.

For random DARTS networks (C=36, 20 cells) at 32x32x3 and at 8x8x1 (digits), every piece and
every whole network is timed in ONNX Runtime on the ``cpu`` device, interleaved in rounds so
that a slow drift of the machine touches all of them alike. The sum of the pieces is compared
with the whole network for three statistics (minimum, 10th percentile, median), with:

- ``warm``: pieces timed alone, hot (weights and inputs in the caches; the table now times
  pieces that keep their shape in context, see :mod:`hwnas.profile.build`);
- ``cold``: each timed run of a piece follows a sweep over a 64 MiB buffer, so the piece starts
  with its weights out of the caches, as in a whole network that streams its weights;
- ``extended``: the graph optimisation level without ONNX Runtime's CPU layout transforms
  (NCHWc), pieces and networks alike.

A second, separate pass over the whole networks gives the re-measure agreement of each
statistic (the noise ceiling of this machine). Last, the same networks are timed alone and
beside busy processes (pure-Python loops, one per core): the statistic that moves least under
interference is the one to predict.

Then ``--drift`` times the same networks every few seconds for two minutes, nothing else
running: how far this machine's speed wanders on its own, and whether all networks wander
together (a machine-wide factor no per-operation model can predict).

    python scripts/latency_diagnosis.py [--networks 8] [--rounds 6] [--only-interference] [--drift]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Callable, Dict, List

import numpy as np
import torch

from hwnas.device import DeviceSpec, host_facts, resolve_device
from hwnas.device.agent.host import describe_host
from hwnas.device.onnx import export_onnx, ort_session
from hwnas.device.agent.timing import STATISTICS, bound_runner, random_feeds
from hwnas.device.onnx import overhead_model
from hwnas.spaces import make_space

FLUSH = np.ones(64 * 2 ** 20 // 8)  # larger than this machine's caches


def runner(module: torch.nn.Module, shapes, device: DeviceSpec) -> Callable[[], None]:
    session = ort_session(export_onnx(module.eval(), tuple(torch.zeros(s) for s in shapes)), device)
    return bound_runner(session, random_feeds(session, shapes), *device.memory_location())


def timed(run: Callable[[], None], n: int, cold: bool = False) -> List[float]:
    out = []
    for _ in range(n):
        if cold:
            FLUSH.sum()
        t0 = time.perf_counter_ns()
        run()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def experiment(space, device: DeviceSpec, networks: int, rounds: int, per_round: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    genotypes = [space.sample(rng) for _ in range(networks)]
    shape = (device.batch_size, *space.input_shape)
    nets = [runner(space.build(g), [shape], device) for g in genotypes]
    pieces = {}
    for piece in space.all_pieces():
        module, shapes = space.build_piece(piece)
        if not isinstance(module, torch.nn.Identity):
            torch.manual_seed(0)
            pieces[piece.key] = runner(module, [(device.batch_size, *s[1:]) for s in shapes], device)
    empty = runner_from_bytes(overhead_model().onnx, device)
    samples: Dict[tuple, List[float]] = defaultdict(list)
    for r in range(rounds):  # interleaved: a drift of the machine touches every graph alike
        for i, run in enumerate(nets):
            samples["net", 0, i] += timed(run, per_round)
        for key, run in pieces.items():
            samples["warm", key] += timed(run, per_round)
            samples["cold", key] += timed(run, per_round, cold=True)
        samples["empty"] += timed(empty, 2 * per_round)
        for i, run in enumerate(nets):  # the second pass: the same networks measured again
            samples["net", 1, i] += timed(run, per_round)
    for name, stat in STATISTICS.items():
        overhead = stat(samples["empty"])
        row = []
        for mode in ("warm", "cold"):
            errs = []
            for i, g in enumerate(genotypes):
                pred = overhead + sum(max(0.0, stat(samples[mode, p.key]) - overhead)
                                      for p in space.pieces(g) if p.key in pieces)
                errs.append(100 * (pred - stat(samples["net", 0, i])) / stat(samples["net", 0, i]))
            row.append(f"{mode} {np.mean(errs):+6.1f}% ({min(errs):+.1f}..{max(errs):+.1f})")
        again = [abs(stat(samples["net", 1, i]) / stat(samples["net", 0, i]) - 1) for i in range(networks)]
        print(f"  {name:<6} sum of pieces vs network: {'   '.join(row)}   re-measure |diff| median "
              f"{100 * np.median(again):.1f}%, max {100 * max(again):.1f}%")
    whole = [samples["net", 0, i] for i in range(networks)]
    print("  networks (ms): " + "  ".join(f"{np.min(s):.3f}/{np.median(s):.3f}" for s in whole) + "  (min/median)")


def _spin() -> None:
    while True:
        pass


def interference(space, device: DeviceSpec, networks: int, rounds: int, per_round: int, seed: int) -> None:
    """Whole networks timed alone, then beside 1 and 2 busy processes: how each statistic moves."""
    import multiprocessing as mp

    rng = np.random.default_rng(seed)
    shape = (device.batch_size, *space.input_shape)
    nets = [runner(space.build(space.sample(rng)), [shape], device) for _ in range(networks)]
    results = {}
    for busy in (0, 1, 2):
        hogs = [mp.Process(target=_spin, daemon=True) for _ in range(busy)]
        for hog in hogs:
            hog.start()
        try:
            samples = defaultdict(list)
            for _ in range(rounds):
                for i, run in enumerate(nets):
                    samples[i] += timed(run, per_round)
        finally:
            for hog in hogs:
                hog.terminate()
                hog.join()
        results[busy] = samples
    for name, stat in STATISTICS.items():
        moves = {busy: [100 * (stat(results[busy][i]) / stat(results[0][i]) - 1) for i in range(networks)]
                 for busy in (1, 2)}
        print(f"  {name:<6} change beside 1 busy process: median {np.median(moves[1]):+6.1f}% (max {max(moves[1]):+.1f}%); "
              f"beside 2: median {np.median(moves[2]):+6.1f}% (max {max(moves[2]):+.1f}%)")


def drift(space, device: DeviceSpec, networks: int, minutes: float, seed: int) -> None:
    """The same networks timed every 5 s: how far each one's 10th percentile wanders over time."""
    rng = np.random.default_rng(seed)
    shape = (device.batch_size, *space.input_shape)
    nets = [runner(space.build(space.sample(rng)), [shape], device) for _ in range(networks)]
    series = []
    started = time.monotonic()
    while time.monotonic() - started < 60 * minutes:
        series.append([STATISTICS["p10"]((run(), timed(run, 30))[1]) for run in nets])
        time.sleep(5)
    ratio = np.array(series) / np.median(series, axis=0)
    per_net = 100 * (np.percentile(ratio, 90, axis=0) - np.percentile(ratio, 10, axis=0))
    common = np.corrcoef(ratio.T)[np.triu_indices(networks, 1)]
    print(f"  {len(series)} snapshots over {minutes:g} min: between the 10% and 90% quantiles of the snapshots, each "
          f"network's 10th percentile moved by {np.median(per_net):.1f}% of its median (median over networks; max "
          f"{per_net.max():.1f}%); correlation between networks' drifts: median {np.median(common):.2f}")


def runner_from_bytes(model: bytes, device: DeviceSpec) -> Callable[[], None]:
    session = ort_session(model, device)
    return bound_runner(session, random_feeds(session, [(1, 1, 1, 1)]), *device.memory_location())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only-interference", action="store_true", help="skip the sum-of-pieces experiment")
    parser.add_argument("--drift", action="store_true", help="only the drift experiment (2 minutes per input size)")
    args = parser.parse_args()
    host = host_facts()
    networks = min(args.networks, 4) if args.drift else args.networks
    print(f"machine: {describe_host(host)}, {host['cores']} cores, onnxruntime {host['onnxruntime']}; device cpu "
          f"(1 thread); {networks} random DARTS networks, C=36, 20 cells" + (
              "" if args.drift else f"; {args.rounds} interleaved rounds of {args.per_round} runs per graph"))
    base = resolve_device("cpu")
    if args.drift:
        for cfg in ({"input_size": 32, "in_channels": 3}, {"input_size": 8, "in_channels": 1}):
            print(f"drift, input {cfg['input_size']}x{cfg['input_size']}x{cfg['in_channels']} (graph optimisation all):")
            drift(make_space("darts", **cfg), base, networks, 2.0, args.seed)
        return
    for level in () if args.only_interference else ("all", "extended"):
        device = DeviceSpec.from_dict({**base.to_dict(), "graph_optimization": level, "name": f"cpu-{level}",
                                       "id": f"cpu-{level}"})
        for cfg in ({"input_size": 32, "in_channels": 3}, {"input_size": 8, "in_channels": 1}):
            print(f"graph optimisation {level}, input {cfg['input_size']}x{cfg['input_size']}x{cfg['in_channels']}:")
            experiment(make_space("darts", **cfg), device, args.networks, args.rounds, args.per_round, args.seed)
    for cfg in ({"input_size": 32, "in_channels": 3}, {"input_size": 8, "in_channels": 1}):
        print(f"interference, input {cfg['input_size']}x{cfg['input_size']}x{cfg['in_channels']} (graph optimisation all):")
        interference(make_space("darts", **cfg), base, args.networks, args.rounds, args.per_round, args.seed)


if __name__ == "__main__":
    main()

