"""Costs from a space's description against the network built from it, for every space.

For N random genotypes per space (small configurations, so building is quick): parameters and
FLOPs from the description's pieces (vectorised, as the search and the Pareto stage read them)
against fvcore's count of the built network, and a latency table's vectorised prediction (the
differentiable expectation at one-hot weights) against the sum over the genotype's pieces.

    python scripts/check_counts.py --genotypes 200
"""

from __future__ import annotations

import argparse
import zlib

import numpy as np

from hwnas.core.counting import count_flops, count_params
from hwnas.device import host_facts
from hwnas.device.agent.host import describe_host
from hwnas.spaces import list_spaces, make_space

SMALL = {"darts": dict(init_channels=8, layers=5, input_size=16), "nb201": dict(init_channels=8, layers=1, input_size=16),
         "fbnet": dict(input_size=16, num_classes=10), "mbv3": dict(input_size=8, in_channels=1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genotypes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores; {args.genotypes} random genotypes per space")
    print(f"{'space':8} {'params equal':>14} {'FLOPs equal':>14} {'latency equal':>14}")
    for name in list_spaces():
        space = make_space(name, **SMALL.get(name, {}))
        rng = np.random.default_rng(args.seed)
        genotypes = [space.sample(rng) for _ in range(args.genotypes)]
        x = np.stack([space.encode(g) for g in genotypes])
        nets = [space.build(g).eval() for g in genotypes]
        params = space.params.many(x) == [count_params(n) for n in nets]
        flops = np.isclose(space.flops.many(x), [count_flops(n, space.input_shape) for n in nets], rtol=1e-9)
        price = {p.key: 1 + zlib.crc32(p.key.encode()) % 97 for p in space.all_pieces()}  # a distinct price per piece
        latency = np.isclose(space.costs(lambda p: price[p.key]).many(x),
                             [sum(price[p.key] for p in space.pieces(g)) for g in genotypes], rtol=1e-9)
        n = len(genotypes)
        print(f"{name:8} {f'{params.sum()}/{n}':>14} {f'{flops.sum()}/{n}':>14} {f'{latency.sum()}/{n}':>14}")


if __name__ == "__main__":
    main()
