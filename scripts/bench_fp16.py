"""What fp16 does on this machine's CPU: which operations ONNX Runtime has fp16 kernels for, and
what an fp16 network costs when it runs the rest in fp32 between casts.

Each network (DARTS_V2 and random DARTS networks, C=16, 8 cells, 32x32 by default) is exported,
converted to fp16 as hwnas converts it (onnxconverter-common, inputs and outputs fp16), and timed
in a plain ONNX Runtime loop beside the fp32 file (one thread, full graph optimisation, as the
``cpu`` device), in three passes that each time both; the median of the passes' medians is printed.
The operations that ONNX Runtime runs in fp32 between the casts it inserts are listed: where any
are, ``hwnas profile --precision fp16`` refuses the device.

    python scripts/bench_fp16.py [--networks 4] [--runs 200] [--init-channels 16 --layers 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import onnx

from check_latency_independent import plain_session, time_runs
from hwnas.device import host_facts
from hwnas.device.agent.host import describe_host
from hwnas.device.agent.session import FP32_FALLBACK
from hwnas.device.onnx import module_model
from hwnas.device.precision import to_fp16
from hwnas.spaces import make_space
from hwnas.spaces.genotypes import load_genotype


def fp32_fallback(optimized: bytes) -> list:
    """The operations ONNX Runtime runs in fp32, between the casts it inserts for want of an fp16 kernel."""
    graph = onnx.load_from_string(optimized).graph
    marker = FP32_FALLBACK.decode()
    cast = {out for node in graph.node if node.name.startswith(marker) for out in node.output}
    return sorted({node.op_type for node in graph.node if node.op_type != "Cast" and cast & set(node.input)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=4, help="random networks besides DARTS_V2 (4)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--init-channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    space = make_space("darts", init_channels=args.init_channels, layers=args.layers)
    host = host_facts()
    print(f"machine: {describe_host(host)}, {host['cores']} cores, onnxruntime {host['onnxruntime']}; DARTS "
          f"C={args.init_channels}, {args.layers} cells, 32x32x3; plain session.run, one thread, {args.runs} runs, "
          f"3 passes of both")
    rng = np.random.default_rng(args.seed)
    named = [("darts_v2", load_genotype("darts_v2"))] + [(f"random{i}", space.sample(rng)) for i in range(args.networks)]
    print(f"{'network':>9} {'fp32 ms':>8} {'fp16 ms':>8} {'fp16/fp32':>9}  run in fp32 between casts")
    ratios = []
    for name, genotype in named:
        fp32 = module_model(space.build(genotype).eval(), [(1, *space.input_shape)])
        fp16 = to_fp16(fp32)
        with tempfile.TemporaryDirectory() as folder:
            optimized = os.path.join(folder, "optimized.onnx")
            sessions = [plain_session(fp32.onnx), plain_session(fp16.onnx, optimized)]
            with open(optimized, "rb") as f:
                fallback = fp32_fallback(f.read())
        passes = np.array([[np.median(time_runs(s, args.runs)) for s in sessions] for _ in range(3)])
        ms32, ms16 = np.median(passes, axis=0)
        ratios.append(ms16 / ms32)
        print(f"{name:>9} {ms32:>8.3f} {ms16:>8.3f} {ms16 / ms32:>8.2f}x  {', '.join(fallback) or 'none'}")
    print(f"median fp16/fp32: {np.median(ratios):.2f}x over {len(ratios)} networks")


if __name__ == "__main__":
    main()
