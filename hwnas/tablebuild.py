"""``hwnas profile``: measure every piece of a space configuration and validate the sum.

Each piece is exported alone to ONNX and timed in ONNX Runtime with the device's settings
(the same graph optimisation level as whole-model inference, so Conv+BN(+ReLU) fuse as they
will run). The measured per-run overhead of an empty graph is subtracted from each piece and
counted once per network. Rows are saved as they are measured, so an interrupted run resumes
where it stopped. Validation measures random whole networks end to end and compares.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from hwnas import __version__
from hwnas.device import DeviceSpec, host_info
from hwnas.lut import LatencyTable, rows_frame, table_path
from hwnas.profiler import Timing, measure_overhead, time_module
from hwnas.spaces import Piece, SearchSpace

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
SAVE_EVERY_S = 5.0  # how often partial progress reaches disk


def _piece_row(piece: Piece, timing: Optional[Timing], overhead_ms: float) -> Dict[str, Any]:
    row = {"key": piece.key, "op": piece.op, "c_in": piece.c_in, "c_out": piece.c_out, "stride": piece.stride,
           "size": piece.size, "arity": piece.arity}
    if timing is None:  # an identity: exporters drop it, it costs nothing
        return {**row, "latency_ms": 0.0, "median_ms": 0.0, "p10_ms": 0.0, "p90_ms": 0.0, "repeats": 0}
    return {**row, "latency_ms": max(0.0, timing.median_ms - overhead_ms), "median_ms": timing.median_ms,
            "p10_ms": timing.p10_ms, "p90_ms": timing.p90_ms, "repeats": timing.repeats}


def time_piece(space: SearchSpace, piece: Piece, device: DeviceSpec, warmup: int, repeats: int,
               opset: int) -> Optional[Timing]:
    """Time one piece alone; ``None`` for an identity (nothing to run)."""
    module, shapes = space.build_piece(piece)
    if isinstance(module, nn.Identity):
        return None
    batch = device.batch_size
    shapes = [(batch, *s[1:]) for s in shapes]
    torch.manual_seed(0)
    return time_module(module.eval(), shapes, device, opset=opset, warmup=warmup, repeats=repeats)


def build_table(space: SearchSpace, device: DeviceSpec, tables_dir: Optional[str | Path] = None,
                force: bool = False, warmup: int = 5, repeats: int = 100, opset: int = 17,
                progress: Optional[Progress] = None) -> LatencyTable:
    """Profile every piece of ``space`` on ``device``; resume from the rows already saved."""
    device.check_available()
    path = table_path(device.id, space, tables_dir)
    done: Dict[str, Dict[str, Any]] = {}
    meta: Dict[str, Any] = {}
    if path.is_file() and not force:
        old = LatencyTable.load(path)
        if old.meta.get("device") != device.to_dict():
            raise ValueError(f"{path} was profiled with other device settings; re-run with --force to replace it")
        done = {row["key"]: row for row in old.rows.to_dict("records")}
        meta = old.meta
    if not meta:
        overhead = measure_overhead(device)
        meta = {
            "device": device.to_dict(), "host": host_info(), "hwnas_version": __version__,
            "provider": device.provider, "opset": opset, "batch_size": device.batch_size,
            "warmup": warmup, "repeats": repeats, "overhead_ms": overhead.median_ms,
            "overhead": overhead.to_dict(), "complete": False,
        }
    pieces = space.all_pieces()
    todo = [p for p in pieces if p.key not in done]
    log.info("%s: %d pieces, %d already measured", path, len(pieces), len(pieces) - len(todo))
    started = time.perf_counter()
    last_save = started

    def table() -> LatencyTable:
        return LatencyTable(device.id, space, rows_frame([done[p.key] for p in pieces if p.key in done]), meta)

    try:
        for i, piece in enumerate(todo):
            timing = time_piece(space, piece, device, warmup, repeats, opset)
            done[piece.key] = _piece_row(piece, timing, meta["overhead_ms"])
            if progress:
                progress(i + 1, len(todo), piece.key)
            if time.perf_counter() - last_save > SAVE_EVERY_S:
                table().save(path)
                last_save = time.perf_counter()
    finally:
        # An interrupt keeps every row measured so far; the next run resumes from them.
        meta["build_seconds"] = meta.get("build_seconds", 0.0) + time.perf_counter() - started
        meta["complete"] = all(p.key in done for p in pieces)
        table().save(path)
    return table()


# ---------------------------------------------------------------------------------------------
# Validation against whole networks


@dataclass
class Validation:
    predicted_ms: np.ndarray
    measured_ms: np.ndarray
    genotypes: List[str]

    def metrics(self, predicted: Optional[np.ndarray] = None) -> Dict[str, float]:
        from scipy.stats import spearmanr

        pred = self.predicted_ms if predicted is None else predicted
        err = (pred - self.measured_ms) / self.measured_ms
        return {
            "n": int(len(err)),
            "mape_pct": float(100 * np.mean(np.abs(err))),
            "within_10pct": float(np.mean(np.abs(err) <= 0.10)),
            "bias_pct": float(100 * np.mean(err)),
            "spearman": float(spearmanr(pred, self.measured_ms).statistic) if len(err) > 2 else float("nan"),
        }


def measure_network(space: SearchSpace, genotype, device: DeviceSpec, warmup: int = 5, repeats: int = 20,
                    opset: int = 17) -> Timing:
    """End-to-end latency of a genotype's exported network with the device's settings."""
    net = space.build(genotype).eval()
    shape = (device.batch_size, *space.input_shape)
    return time_module(net, [shape], device, opset=opset, warmup=warmup, repeats=repeats)


def validate_table(table: LatencyTable, device: DeviceSpec, n: int = 30, seed: int = 0,
                   warmup: int = 5, repeats: int = 20, progress: Optional[Progress] = None,
                   genotypes: Optional[List[Any]] = None) -> Validation:
    """Measure ``n`` random networks (or the given ones) end to end; compare with the raw sum."""
    from hwnas.genotype import genotype_to_json

    space = table.space
    rng = np.random.default_rng(seed)
    genotypes = genotypes if genotypes is not None else [space.sample(rng) for _ in range(n)]
    n = len(genotypes)
    predicted, measured = [], []
    for i, g in enumerate(genotypes):
        predicted.append(table.predict_raw(g))
        measured.append(measure_network(space, g, device, warmup, repeats, table.meta.get("opset", 17)).median_ms)
        if progress:
            progress(i + 1, n, f"measured {measured[-1]:.3f} ms, table {predicted[-1]:.3f} ms")
    return Validation(np.array(predicted), np.array(measured), [genotype_to_json(g) for g in genotypes])


def single_op_genotypes(space: SearchSpace, seed: int = 0) -> List[Any]:
    """One genotype per operation, using it at every position (inputs of DARTS cells random)."""
    rng = np.random.default_rng(seed)
    lower, upper = space.bounds
    genotypes = []
    for op in range(len(space.ops)):
        x = rng.integers(lower, upper + 1)
        x[space.op_variables()] = op
        genotypes.append(space.decode(x))
    return genotypes


def _join(a: Validation, b: Validation) -> Validation:
    return Validation(np.concatenate([a.predicted_ms, b.predicted_ms]), np.concatenate([a.measured_ms, b.measured_ms]),
                      a.genotypes + b.genotypes)


def _op_features(table: LatencyTable, genotypes: List[str]) -> Tuple[List[str], np.ndarray]:
    """Per-op sums of measured piece latencies of each genotype (the calibration's features)."""
    from hwnas.genotype import genotype_from_dict

    ops = sorted(set(table.rows["op"]))
    index = {op: i for i, op in enumerate(ops)}
    features = np.zeros((len(genotypes), len(ops)))
    for row, text in enumerate(genotypes):
        for piece in table.space.pieces(genotype_from_dict(json.loads(text))):
            features[row, index[piece.op]] += table.raw_lookup(piece)
    return ops, features


def fit_calibration(table: LatencyTable, validation: Validation, ridge: float = 0.1) -> Dict[str, Any]:
    """Per-op scales and an intercept: measured ~ intercept + overhead + sum_op scale_op * latency_op.

    Whole networks run faster or slower than their pieces alone where ONNX Runtime fuses across
    pieces (a sum folded into the convolution before it, a ReLU shared by several operations)
    or where caches behave differently. The scales are ridge-regularised towards 1 (the table
    as measured), with the penalty scaled to the networks' latency, so ops that the validation
    networks barely exercise keep their measured cost.
    """
    ops, x = _op_features(table, validation.genotypes)
    y = validation.measured_ms - float(table.meta.get("overhead_ms", 0.0))
    lam = ridge * float(np.mean(y)) ** 2
    k = len(ops)
    design = np.hstack([x, np.ones((len(y), 1))])
    penalty = np.sqrt(lam) * np.hstack([np.eye(k), np.zeros((k, 1))])
    coef = np.linalg.lstsq(np.vstack([design, penalty]), np.concatenate([y, np.sqrt(lam) * np.ones(k)]),
                           rcond=None)[0]
    return {"scale": {op: float(c) for op, c in zip(ops, coef[:k])}, "intercept": float(coef[k]),
            "ridge": ridge, "fitted_on": int(len(y))}


def calibrated_predictions(table: LatencyTable, calibration: Dict[str, Any], genotypes: List[str]) -> np.ndarray:
    ops, x = _op_features(table, genotypes)
    scale = np.array([calibration["scale"].get(op, 1.0) for op in ops])
    return float(table.meta.get("overhead_ms", 0.0)) + calibration["intercept"] + x @ scale


def validate_and_calibrate(table: LatencyTable, path: Path, device: DeviceSpec, n: int = 30, seed: int = 0,
                           progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Validate; fit a calibration on one half of the networks and test it on the other half.

    The calibration (refitted on all networks) is kept only when it predicts the held-out half
    better than the raw sum; the sidecar records the raw metrics, the held-out metrics of both,
    and which one the table now uses.
    """
    table.set_calibration(None)
    validation = validate_table(table, device, n=n, seed=seed, progress=progress)
    result: Dict[str, Any] = {"raw": validation.metrics(), "seed": seed, "calibrated": False}
    if n >= 6:
        # Networks made of one operation each pin down each operation's scale; they join the
        # fitting half of the random networks, never the half the calibration is scored on.
        anchors = validate_table(table, device, genotypes=single_op_genotypes(table.space, seed))
        half = n // 2
        fit = _join(anchors, Validation(validation.predicted_ms[:half], validation.measured_ms[:half],
                                        validation.genotypes[:half]))
        test = Validation(validation.predicted_ms[half:], validation.measured_ms[half:], validation.genotypes[half:])
        cal = fit_calibration(table, fit)
        result["raw_heldout"] = test.metrics()
        result["calibrated_heldout"] = test.metrics(calibrated_predictions(table, cal, test.genotypes))
        if result["calibrated_heldout"]["mape_pct"] < result["raw_heldout"]["mape_pct"]:
            result["calibration"] = fit_calibration(table, _join(anchors, validation))
            result["calibrated"] = True
            table.set_calibration(result["calibration"])
    result["networks"] = [{"genotype": g, "table_ms": float(p), "measured_ms": float(m)}
                          for g, p, m in zip(validation.genotypes, validation.predicted_ms, validation.measured_ms)]
    table.meta["validation"] = result
    table.save(path)
    return result
