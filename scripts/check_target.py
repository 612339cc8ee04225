"""Profile a space on a device's target (in-process, another Python, or SSH) and check the table
against a plain ONNX Runtime loop run *on that target*, outside hwnas's agent and timing code.

The table is profiled (and calibrated, as ``hwnas profile`` does by default) into a fresh folder,
timed; optionally the same profile runs in-process for the time ratio. Then random networks are
exported here and timed on the target by a few lines of plain ``session.run`` in a loop, sent
through the device's runner (or run in its ``python``), twice: the second pass is the noise.

    python scripts/check_target.py --device DEVICE.yaml --space nb201 --input-size 8 --in-channels 1
    python scripts/check_target.py --device loopback.yaml --space darts --compare-in-process
    python scripts/check_target.py --device DEVICE.yaml ... --tables-dir DIR --genotype RUN/genotype.json --budget 0.5

A device at int8 (``cpu@int8``) quantizes each network here before the plain loop times it.
With ``--tables-dir`` the table is kept there (and reused when it is already there); with
``--genotype`` those networks (searched ones, say) are timed by the plain loop instead of random
ones, and with ``--budget`` each is held against it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from hwnas.device import module_model, open_target, resolve_device
from hwnas.device.precision import at_precision
from hwnas.device.runner import DEFAULT_PYTHON
from hwnas.profile.build import build_table
from hwnas.profile.calibrate import validate_and_calibrate
from hwnas.spaces import make_space
from hwnas.spaces.genotypes import load_genotype
from hwnas.table import load_table_for, table_path
from hwnas.device.agent.host import describe_host

# The plain loop: its own code, not the agent's. It reads [4-byte length, model]... from stdin.
PLAIN_LOOP = r"""
import json, struct, sys, time
import numpy as np, onnxruntime as ort
runs, threads = int(sys.argv[1]), int(sys.argv[2])
out = []
while True:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        break
    model = sys.stdin.buffer.read(struct.unpack(">I", head)[0])
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    meta = session.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(meta.shape).astype(np.float32)
    for _ in range(20):
        session.run(None, {meta.name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {meta.name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    out.append(times)
print(json.dumps(out))
"""


def plain_on_target(device, models, runs: int) -> list:
    """Each model's milliseconds of ``runs`` plain session.run calls, timed on the target."""
    argv = [device.python or (DEFAULT_PYTHON if device.runner else sys.executable), "-c", PLAIN_LOOP, str(runs),
            str(device.intra_op_threads)]
    if device.runner:
        argv = shlex.split(device.runner) + [shlex.join(argv)]
    payload = b"".join(len(m).to_bytes(4, "big") + m for m in models)
    done = subprocess.run(argv, input=payload, capture_output=True, check=True, timeout=3600)
    return [np.asarray(t) for t in json.loads(done.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--space", default="darts")
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--in-channels", type=int)
    parser.add_argument("--init-channels", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--validate", type=int, default=100, help="whole networks to calibrate with (100)")
    parser.add_argument("--networks", type=int, default=8)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--compare-in-process", action="store_true", help="also profile in-process, for the time ratio")
    parser.add_argument("--tables-dir", help="keep the table here (reuse it when it is there already)")
    parser.add_argument("--genotype", action="append", default=[], help="time this genotype file (repeatable)")
    parser.add_argument("--budget", type=float, help="latency budget (ms) each timed network is held against")
    args = parser.parse_args()
    device = resolve_device(args.device)
    options = {k: v for k, v in (("input_size", args.input_size), ("in_channels", args.in_channels),
                                 ("init_channels", args.init_channels), ("layers", args.layers)) if v}
    space = make_space(args.space, **options)
    target = open_target(device)
    facts = target.facts()
    print(f"target: {describe_host(facts)}, {facts['cores']} cores, Python {facts['python']}, onnxruntime "
          f"{facts['onnxruntime']}; reached through {device.reach() or 'this process'}; space {args.space} {options}")
    times = {}
    kept = None
    if args.tables_dir and table_path(device.id, space, args.tables_dir).is_file():
        kept = load_table_for(device, space, tables_dir=args.tables_dir)
        print(f"reusing {table_path(device.id, space, args.tables_dir)}")
    for label, spec in ([("target", device)] if kept is None else []) + (
            [("in-process", resolve_device("cpu"))] if args.compare_in_process else []):
        with tempfile.TemporaryDirectory() as scratch:
            tables = args.tables_dir if label == "target" and args.tables_dir else scratch
            started = time.perf_counter()
            table = build_table(space, spec, tables_dir=tables)
            built = time.perf_counter() - started
            result = validate_and_calibrate(table, table_path(spec.id, space, tables), spec, n=args.validate)
            times[label] = (built, time.perf_counter() - started)
            held = result["calibrated_heldout"]
            print(f"{label}: profiled in {built:.0f} s, calibrated in {times[label][1] - built:.0f} s more; held-out "
                  f"{held['n']} networks: {100 * held['within_10pct']:.0f}% within +-10% (MAPE {held['mape_pct']:.1f}%)"
                  f"; noise ceiling {100 * result['noise']['remeasure_within_10pct']:.0f}%")
            if label == "target":
                kept = table
    if len(times) == 2:
        print(f"time through the target / in-process: profile {times['target'][0] / times['in-process'][0]:.2f}x, "
              f"profile and calibration {times['target'][1] / times['in-process'][1]:.2f}x")
    rng = np.random.default_rng(args.seed)
    genotypes = ([load_genotype(g) for g in args.genotype] if args.genotype else
                 [space.sample(rng) for _ in range(args.networks)])
    models = []
    for g in genotypes:
        torch.manual_seed(0)
        # at int8 quantized here (hwnas' recipe); the timing stays the plain loop's
        models.append(at_precision(module_model(space.build(g).eval(), [(device.batch_size, *space.input_shape)]),
                                   device.precision).onnx)
    passes = [plain_on_target(device, models, args.runs) for _ in range(2)]
    within = again = 0
    print(f"plain loop on the target: {args.runs} runs of session.run per network, 10th percentile, two passes"
          + (f"; budget {args.budget} ms" if args.budget is not None else ""))
    print(f"{'net':>3} {'table ms':>9} {'plain p10':>9} {'err':>7} | {'again':>8} {'diff':>6}")
    for i, g in enumerate(genotypes):
        pred = kept.costs().of(g)
        p10, p10b = float(np.percentile(passes[0][i], 10)), float(np.percentile(passes[1][i], 10))
        err, diff = 100 * (pred / p10 - 1), 100 * (p10b / p10 - 1)
        within += abs(err) <= 10
        again += abs(diff) <= 10
        verdict = "" if args.budget is None else (" within the budget" if max(p10, p10b) <= args.budget
                                                  else " OVER the budget")
        print(f"{i:>3} {pred:>9.3f} {p10:>9.3f} {err:>+6.1f}% | {p10b:>8.3f} {diff:>+5.1f}%{verdict}")
    print(f"table within +-10% of the plain loop on the target: {within} of {len(genotypes)}; the two plain passes "
          f"agree within +-10%: {again} of {len(genotypes)}")


if __name__ == "__main__":
    main()
