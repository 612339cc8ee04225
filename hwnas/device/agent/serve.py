"""The agent's loop: read a request frame, answer it, until the input ends.

Requests: ``hello`` (host facts, ONNX Runtime version and providers), ``load`` (other
processes' use of the machine over a moment), ``add`` (a batch of models opened as sessions) and
``time`` (every model added, timed in interleaved rounds, progress frames on the way). Any
failure is answered as an ``error`` frame with one line; the agent never prints to its protocol
stream.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, BinaryIO, Dict, List

from . import protocol


def handle(header: Dict[str, Any], blobs: List[bytes], out: BinaryIO, bench: Any) -> None:
    from .host import host_facts
    from .load import sample_load

    kind = header.get("kind")
    if kind == "hello":
        protocol.write_frame(out, {"kind": "hello", "version": protocol.VERSION,
                                   "host": host_facts(header.get("gpu_id"))})
    elif kind == "load":
        load = sample_load(float(header.get("seconds", 0.5)))
        protocol.write_frame(out, {"kind": "load", "load": load.to_dict() if load else None})
    elif kind == "add":
        count = bench.add(header["settings"], blobs, header["shapes"], bool(header.get("first")))
        protocol.write_frame(out, {"kind": "added", "count": count})
    elif kind == "time":
        def progress(done: int, total: int) -> None:
            protocol.write_frame(out, {"kind": "progress", "done": done, "total": total})

        result = bench.time(repeats=header["repeats"], rounds=header["rounds"], warmup=header["warmup"],
                            progress=progress)
        protocol.write_frame(out, {"kind": "result", **result.to_dict()})
    else:
        raise ValueError(f"unknown request {kind!r}")


def main() -> int:
    # The protocol owns the original stdout; anything else printed (ONNX Runtime's own lines) goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    stdin = sys.stdin.buffer
    try:
        for needed in ("numpy", "onnxruntime"):
            importlib.import_module(needed)
    except ImportError as exc:
        protocol.write_frame(out, {"kind": "error", "error": f"the target's Python {sys.version.split()[0]} lacks "
                                   f"{exc.name or exc}: pip install numpy onnxruntime there"})
        return 3
    from .session import Bench

    bench = Bench()
    while True:
        try:
            header, blobs = protocol.read_frame(stdin)
        except EOFError:
            return 0
        try:
            handle(header, blobs, out, bench)
        except Exception as exc:  # answered, not raised: hwnas reports it as one line
            bench.runs.clear()
            line = " ".join(str(exc).split())  # ONNX Runtime's messages can span lines
            protocol.write_frame(out, {"kind": "error", "error": f"{type(exc).__name__}: {line}"})
