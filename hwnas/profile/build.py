"""``hwnas profile``: measure every piece of a space configuration on the device's target.

Each piece is exported to ONNX here and timed in ONNX Runtime on the target (this process, or
the agent reached through the device's runner) with the device's settings (the same graph
optimisation level as whole-model inference, so Conv+BN(+ReLU) fuse as they will run), in
interleaved rounds with other pieces, and summarised by the quiet device's statistic
(:data:`hwnas.device.agent.timing.LATENCY_STATISTIC`). A piece that keeps its input's shape is
timed in context (:class:`InContext`: between two convolutions, the neighbours alone subtracted),
so it pays the layout changes a network pays around it and no more; a piece that changes the
shape (a stem, a reduction, a head) is timed alone, the per-run overhead of an empty graph
subtracted and counted once per network. Rows are saved as they are measured, so an
interrupted run (a Ctrl-C, a dropped connection) resumes where it stopped.
:mod:`hwnas.profile.calibrate` then fits the table to whole networks.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from hwnas import __version__
from hwnas.device import Model, TargetError, Timing, module_model, open_target
from hwnas.device.agent.load import Load
from hwnas.device.onnx import overhead_model
from hwnas.device.precision import recipe
from hwnas.device.spec import DeviceSpec
from hwnas.device.agent.host import describe_host
from hwnas.table import LatencyTable, rows_frame, writable_table_path
from hwnas.spaces import Piece, SearchSpace

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
SAVE_EVERY_S = 5.0  # how often partial progress reaches disk
# A piece that runs a kernel is never free: where its time beyond the baseline is lost in the
# noise (an add at 8x8, a GPU kernel as cheap as the empty graph), its row keeps this floor, so
# the calibration still counts it as a piece that runs and can give it a per-piece cost. Only
# identities, which exporters drop, are 0.
FLOOR_MS = 1e-5
CHUNK = 32  # pieces timed together in interleaved rounds
ROUNDS = 5


def _piece_row(piece: Piece, timing: Optional[Timing], baseline: Optional[Timing],
               overhead_ms: float) -> Dict[str, Any]:
    row = {"key": piece.key, "op": piece.op, "c_in": piece.c_in, "c_out": piece.c_out, "stride": piece.stride,
           "size": piece.size, "arity": piece.arity}
    if timing is None:  # an identity: exporters drop it, it costs nothing
        return {**row, "latency_ms": 0.0, "median_ms": 0.0, "p10_ms": 0.0, "p90_ms": 0.0, "repeats": 0}
    # Timed in context, the piece costs what the model costs beyond its neighbours alone (the
    # run's overhead is in both); timed alone, what it costs beyond an empty graph.
    base = baseline.latency_ms if baseline is not None else overhead_ms
    return {**row, "latency_ms": max(FLOOR_MS, timing.latency_ms - base), "median_ms": timing.median_ms,
            "p10_ms": timing.p10_ms, "p90_ms": timing.p90_ms, "repeats": timing.repeats}


def _protocol(context: bool) -> str:
    return "between neighbours, as in a network" if context else "alone"


class InContext(nn.Module):
    """A piece between two 1x1 convolutions, as it runs inside a network; without the piece, the
    neighbours alone (the baseline subtracted from it).

    Alone, a piece pays what a network does not: ONNX Runtime's CPU kernels reorder a layer's
    input into a blocked layout (NCHWc) and back around every run of convolutions, and a network
    pays that once, at its ends. Between neighbours that run blocked, the piece runs as it does in
    a network: blocked where its kernels can, paying the reorders where they cannot.
    """

    def __init__(self, piece: Optional[nn.Module], channels: int, arity: int) -> None:
        super().__init__()
        self.before = nn.Conv2d(channels, channels, 1)
        self.piece = piece
        self.arity = arity
        self.after = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.before(x)
        z = self.piece(*([y] * self.arity)) if self.piece is not None else y
        # y also feeds the output, as a network's node feeds several edges: ONNX Runtime cannot
        # then fold the piece into the convolution before it (a Mul by zero, an Add), which it
        # could not in a network either
        return self.after(z) + y


def piece_models(space: SearchSpace, piece: Piece, batch_size: int, opset: int,
                 context: bool = True) -> Tuple[Optional[Model], Optional[Model]]:
    """What to measure for one piece: its model and the baseline to subtract (``None``: the
    run's overhead). With ``context``, a piece whose output has its input's shape is timed
    between neighbours (:class:`InContext`); others alone. ``(None, None)`` for an identity."""
    module, shapes = space.build_piece(piece)
    if isinstance(module, nn.Identity):
        return None, None
    module.eval()
    shapes = [(batch_size, *s[1:]) for s in shapes]
    torch.manual_seed(0)
    if context and len(set(shapes)) == 1:
        with torch.no_grad():
            keeps_shape = tuple(module(*(torch.zeros(s) for s in shapes)).shape) == shapes[0]
        if keeps_shape:
            torch.manual_seed(0)
            timed = module_model(InContext(module, piece.c_in, piece.arity).eval(), shapes[:1], opset=opset)
            torch.manual_seed(0)
            return timed, module_model(InContext(None, piece.c_in, 1).eval(), shapes[:1], opset=opset)
    return module_model(module, shapes, opset=opset), None


def build_table(space: SearchSpace, device: DeviceSpec, tables_dir: Optional[str | Path] = None,
                force: bool = False, warmup: int = 5, repeats: int = 100, opset: int = 17,
                progress: Optional[Progress] = None, context: bool = True) -> LatencyTable:
    """Profile every piece of ``space`` on ``device``; resume from the rows already saved."""
    if not isinstance(repeats, int) or repeats < ROUNDS:
        raise ValueError(f"--repeats must be at least {ROUNDS} (one timed run per interleaved round), got {repeats!r}")
    target = open_target(device)
    target.check_available()
    path = writable_table_path(device.id, space, tables_dir)
    done: Dict[str, Dict[str, Any]] = {}
    meta: Dict[str, Any] = {}
    if path.is_file() and not force:
        old = LatencyTable.load(path)
        if old.meta.get("device") != device.to_dict():
            raise ValueError(f"{path} was profiled with other device settings; re-run with --force to replace it")
        if old.meta.get("context", False) != context:  # rows of two protocols would not add up
            raise ValueError(f"{path} was profiled with pieces timed {_protocol(old.meta.get('context', False))}, "
                             f"this run times them {_protocol(context)}; re-run with --force to replace it")
        if not old.describes(target):  # rows of two machines would make a table of neither
            raise ValueError(f"{path} was profiled on {old.host}, not on this "
                             f"target ({describe_host(target.facts())}); re-run with --force to replace it, or "
                             f"profile into another --tables-dir")
        done = {row["key"]: row for row in old.rows.to_dict("records")}
        meta = old.meta
    before = target.sample_load()
    if before is not None and before.busy:
        log.warning("the target is busy before profiling (%s): latencies measured now come out too high; stop "
                    "the other work for an accurate table", before.describe())
    if not meta:
        overhead = target.measure([overhead_model((device.batch_size, 1, 1, 1))], repeats=200, rounds=4,
                                  warmup=20)
        meta = {
            "device": device.to_dict(), "host": target.facts(), "reach": device.reach(),
            "hwnas_version": __version__, "provider": device.provider, "opset": opset,
            "batch_size": device.batch_size, "warmup": warmup, "repeats": repeats,
            "overhead_ms": overhead.timings[0].latency_ms, "overhead": overhead.timings[0].to_dict(),
            "complete": False, "context": context,
            "precision": device.precision, "quantization": recipe(device.precision),
        }
    pieces = space.all_pieces()
    todo = [p for p in pieces if p.key not in done]
    log.info("%s: %d pieces, %d already measured", path, len(pieces), len(pieces) - len(todo))
    started = time.perf_counter()
    last_save = started

    def table() -> LatencyTable:
        return LatencyTable(device.id, space, rows_frame([done[p.key] for p in pieces if p.key in done]), meta)

    busy, measured_s = 0.0, 0.0
    done_count = 0
    try:
        # Pieces are timed in interleaved rounds, a chunk at a time (one request to a remote
        # target): a drift of the machine then touches every piece of the chunk alike, and an
        # interrupt or a dropped connection loses at most one chunk.
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            models = {p.key: piece_models(space, p, device.batch_size, opset, context) for p in chunk}
            # a model and its baseline in one request: the same rounds time both
            batch = [m for p in chunk for m in models[p.key] if m is not None]
            try:
                result = target.measure(batch, repeats=repeats, rounds=ROUNDS,
                                        warmup=warmup) if batch else None
            except TargetError as exc:
                raise TargetError(f"{exc}. The {len(done)} rows measured before are saved: run the same command "
                                  f"again to continue") from None
            if result is not None and result.load:
                busy += result.load.other_cores * result.load.seconds
                measured_s += result.load.seconds
            timings = iter(result.timings if result else [])
            for piece in chunk:
                timed, baseline = models[piece.key]
                done[piece.key] = _piece_row(piece, next(timings) if timed is not None else None,
                                             next(timings) if baseline is not None else None,
                                             meta["overhead_ms"])
            done_count += len(chunk)
            if progress:
                progress(done_count, len(todo), chunk[-1].key)
            if time.perf_counter() - last_save > SAVE_EVERY_S:
                table().save(path)
                last_save = time.perf_counter()
    finally:
        # An interrupt keeps every row measured so far; the next run resumes from them.
        meta["build_seconds"] = meta.get("build_seconds", 0.0) + time.perf_counter() - started
        meta["complete"] = all(p.key in done for p in pieces)
        load = Load(busy / measured_s, measured_s) if measured_s else None
        if load is not None:
            meta["load"] = load.to_dict()
        table().save(path)
    if load is not None and load.busy:
        log.warning("while profiling, %s: the table's latencies may be too high; hwnas predicts the quiet "
                    "device, so profile again (--force) when the machine is idle", load.describe())
    return table()
