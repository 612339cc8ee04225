"""The agent's timing protocol against a plain ``session.run`` loop, on the same networks.

Random networks of a space are exported once; the device layer's ``measure`` (the protocol every
table, validation and budget check uses: interleaved rounds, 10th percentile) and the plain loop
of ``scripts/check_target.py`` (its own code, not the agent's) time them on the same target, in
two passes. A protocol that times what an application pays agrees with the loop within the
machine's re-measure noise (the two passes' difference).

    python scripts/agent_vs_plain.py [--device cpu] [--space nb201 --input-size 8 --in-channels 1] [-n 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_target import plain_on_target  # noqa: E402  (the plain loop, shared with that check)

from hwnas.device import measure, module_model, open_target, resolve_device  # noqa: E402
from hwnas.device.agent.host import describe_host  # noqa: E402
from hwnas.spaces import make_space  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--input-size", type=int, default=8)
    parser.add_argument("--in-channels", type=int, default=1)
    parser.add_argument("-n", type=int, default=8, help="random networks (8)")
    parser.add_argument("--runs", type=int, default=300, help="runs per network and pass (300)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    space = make_space(args.space, input_size=args.input_size, in_channels=args.in_channels)
    facts = open_target(device).facts()
    print(f"target: {describe_host(facts)}, {facts['cores']} cores, onnxruntime {facts['onnxruntime']}; "
          f"{args.space} {args.input_size}x{args.input_size}x{args.in_channels}, {args.n} random networks")
    rng = np.random.default_rng(0)
    models = [module_model(space.build(space.sample(rng)).eval(), [(1, *space.input_shape)]) for _ in range(args.n)]
    print(f"{'pass':>4} {'net':>3} {'agent ms':>9} {'plain ms':>9} {'diff':>7}")
    diffs = []
    for rep in range(2):
        agent = measure(device, models, repeats=args.runs, rounds=4, warmup=20)
        plain = plain_on_target(device, [m.onnx for m in models], args.runs)
        for i, (a, p) in enumerate(zip(agent.timings, plain)):
            diff = a.latency_ms / np.percentile(p, 10) - 1
            diffs.append(diff)
            print(f"{rep + 1:>4} {i:>3} {a.latency_ms:>9.4f} {np.percentile(p, 10):>9.4f} {100 * diff:>+6.1f}%")
    diffs = np.abs(diffs)
    print(f"agent against the plain loop (10th percentiles): median |diff| {100 * np.median(diffs):.1f}%, "
          f"largest {100 * diffs.max():.1f}%; within +-5%: {int((diffs <= 0.05).sum())} of {len(diffs)}")


if __name__ == "__main__":
    main()
