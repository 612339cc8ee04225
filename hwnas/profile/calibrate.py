"""Fit a latency table to whole networks measured end to end, and say how well it predicts them.

Pieces timed alone describe a network well on a quiet machine, but not exactly: a whole network
runs some operations faster or slower than alone (fusions across pieces, per-node costs, caches
shared by neighbours), by amounts that differ between operations and input sizes. Whole networks
cost milliseconds to measure on a CPU, so the table measures many: uniformly random ones and
search-like ones (cells dominated by a few operations, as cheap pooling- and skip-heavy searches
produce), plus one network per operation. The model stays the table's: per-class scales of the
measured piece latencies, optionally a per-class cost per piece that runs, and an intercept:
linear in the pieces and so differentiable in the architecture weights, with the class (op; op
and stride; op and input size) and the offsets chosen by cross-validated error. Its held-out
error and this machine's re-measure noise are recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from hwnas.spaces.genotypes import genotype_to_json
from hwnas.device import DeviceSpec, measure_modules
from hwnas.table import FEATURES, LatencyTable, piece_class
from hwnas.spaces import SearchSpace

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
FOLDS = 5
MIN_NETWORKS = 15
RIDGE = 0.05  # pulls scales towards 1 (the table as measured), relative to the networks' latency


VALIDATION_S = 150.0  # what the default calibration may take, measuring and exporting
EXPORT_S = 0.5  # exporting one whole network, roughly
QUANTIZE_S = 2.0  # quantizing one (a DARTS C=16 network: 1.3-2.5 s here), for an int8 device


def default_networks(table: LatencyTable) -> int:
    """Networks for the default calibration: 100, fewer for spaces whose networks are slow to
    time (40 runs each), so that it takes about :data:`VALIDATION_S` seconds; at least 30."""
    space = table.space
    rng = np.random.default_rng(0)
    typical_ms = float(np.median(table.costs().many(np.stack([space.encode(space.sample(rng)) for _ in range(20)]))))
    per_network_s = 40 * typical_ms / 1000 + EXPORT_S + (QUANTIZE_S if table.meta.get("precision") == "int8" else 0.0)
    return int(min(100, max(30, VALIDATION_S // per_network_s)))


# ---------------------------------------------------------------------------------------------
# Which networks to measure


def search_like_genotypes(space: SearchSpace, n: int, rng: np.random.Generator) -> List[Any]:
    """Genotypes whose operations follow a random, peaked mixture (Dirichlet 0.3) per genotype.

    Searches end in such networks: cells dominated by a few operations (pooling and skips under
    tight budgets, convolutions without one), which uniform sampling almost never produces.
    """
    out = []
    for _ in range(n):
        x = space.encode(space.sample(rng))
        mixture = dict(zip(space.ops, rng.dirichlet(np.full(len(space.ops), 0.3))))
        for var in space.op_variables():  # each position draws from its own candidates, by the mixture
            p = np.array([mixture[op] for op in space.variable_ops(var)]) + 1e-12
            x[var] = rng.choice(len(p), p=p / p.sum())
        out.append(space.decode(x))
    return out


def single_op_genotypes(space: SearchSpace, seed: int = 0) -> List[Any]:
    """One genotype per operation, using it at every position that offers it (inputs of DARTS
    cells and the other positions random)."""
    rng = np.random.default_rng(seed)
    lower, upper = space.bounds
    genotypes = []
    for op in space.ops:
        x = rng.integers(lower, upper + 1)
        for var in space.op_variables():
            if op in space.variable_ops(var):
                x[var] = space.variable_ops(var).index(op)
        genotypes.append(space.decode(x))
    return genotypes


def fitting_genotypes(space: SearchSpace, n: int, seed: int) -> List[Any]:
    """``n`` networks: half uniformly random, half search-like, in a seeded shuffled order."""
    rng = np.random.default_rng(seed)
    genotypes = [space.sample(rng) for _ in range(n - n // 2)] + search_like_genotypes(space, n // 2, rng)
    return [genotypes[i] for i in rng.permutation(len(genotypes))]


# ---------------------------------------------------------------------------------------------
# Measuring them


@dataclass
class Validation:
    """Predicted and measured latency (ms) of whole networks."""

    predicted_ms: np.ndarray
    measured_ms: np.ndarray
    genotypes: List[str]

    def metrics(self, predicted: Optional[np.ndarray] = None) -> Dict[str, float]:
        return prediction_metrics(self.predicted_ms if predicted is None else predicted, self.measured_ms)

    def subset(self, index: np.ndarray) -> "Validation":
        return Validation(self.predicted_ms[index], self.measured_ms[index], [self.genotypes[i] for i in index])


def prediction_metrics(predicted: np.ndarray, measured: np.ndarray) -> Dict[str, float]:
    """MAPE, share within +-10%, mean signed error and Spearman rank correlation."""
    from scipy.stats import spearmanr

    err = (np.asarray(predicted) - measured) / measured
    return {
        "n": int(len(err)),
        "mape_pct": float(100 * np.mean(np.abs(err))),
        "within_10pct": float(np.mean(np.abs(err) <= 0.10)),
        "bias_pct": float(100 * np.mean(err)),
        "spearman": float(spearmanr(predicted, measured).statistic) if len(err) > 2 else float("nan"),
    }


# ---------------------------------------------------------------------------------------------
# The model: per-class scales (and offsets) of the measured pieces and an intercept


def class_features(table: LatencyTable, x: np.ndarray, features: str, offsets: bool = False
                   ) -> Tuple[List[str], np.ndarray]:
    """Per-class sums of measured piece latencies of each encoded genotype (and, with ``offsets``,
    per-class counts of pieces that run), read from the space's cost structure: the prediction
    is linear in what each piece costs, so one class at a time gives its column."""
    space = table.space
    classes = sorted({piece_class(p, features) for p in space.all_pieces()})

    def column(cls: str, count: bool) -> np.ndarray:
        def lookup(p):
            if piece_class(p, features) != cls:
                return 0.0
            raw = table.raw_lookup(p)
            return float(raw > 0) if count else raw  # an identity runs nothing: no per-piece cost

        return space.costs(lookup).many(x)

    names = classes + ([f"{c}#count" for c in classes] if offsets else [])
    columns = [column(c, False) for c in classes] + ([column(c, True) for c in classes] if offsets else [])
    return names, np.stack(columns, axis=1)


def fit_model(f: np.ndarray, y: np.ndarray, prior: np.ndarray, ridge: float = RIDGE) -> Tuple[np.ndarray, float]:
    """Least squares y ~ intercept + f @ coef on relative errors, each coefficient ridge-pulled
    towards its ``prior`` (1 for a scale: the table as measured; 0 for a per-piece offset)."""
    w = 1.0 / y  # relative, not absolute, errors: a 10% miss counts alike on fast and slow networks
    k = f.shape[1]
    design = np.hstack([f, np.ones((len(y), 1))]) * w[:, None]
    lam = np.sqrt(ridge * len(y))
    # the penalty acts on each column's contribution, so classes of tiny pieces are not pinned
    size = np.sqrt(np.mean((f * w[:, None]) ** 2, axis=0)) + 1e-12
    penalty = np.hstack([lam * np.diag(size), np.zeros((k, 1))])
    coef = np.linalg.lstsq(np.vstack([design, penalty]), np.concatenate([y * w, lam * size * prior]), rcond=None)[0]
    return coef[:k], float(coef[k])


def _cv_mape(f: np.ndarray, prior: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    order = np.random.default_rng(seed).permutation(len(y))
    errs = np.empty(len(y))
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        coef, intercept = fit_model(f[train], y[train], prior)
        errs[fold] = (intercept + f[fold] @ coef - y[fold]) / y[fold]
    return float(100 * np.mean(np.abs(errs)))


MODELS = tuple(f + o for f in FEATURES for o in ("", "+offset"))


def choose_and_fit(table: LatencyTable, x: np.ndarray, measured: np.ndarray, seed: int = 0,
                   model: Optional[str] = None) -> Tuple[Optional[Dict[str, Any]], Dict[str, float]]:
    """The calibration with the lowest cross-validated error (``None``: the raw sum is best), or,
    given ``model``, that one fitted to these networks.

    Candidates (:data:`MODELS`): per-class scales by each of :data:`~hwnas.table.FEATURES`, alone
    or with a per-class offset per piece that runs (``+offset``: per-node costs that do not grow
    with the piece's own latency). Returns the calibration and the cross-validated MAPE of each
    candidate scored (``raw``: no calibration).
    """
    overhead = float(table.meta.get("overhead_ms", 0.0))
    y = measured - overhead
    scores: Dict[str, float] = {}
    if model is None:
        raw = table.costs(calibrated=False).many(x) - overhead
        scores["raw"] = float(100 * np.mean(np.abs((raw - y) / measured)))
        if len(y) >= 2 * FOLDS:
            for name in MODELS:
                scores[name] = _cv_mape(*_design(table, x, name)[1:], y=y, folds=FOLDS, seed=seed)
        model = min(scores, key=scores.get)
    if model == "raw":
        return None, scores
    names, f, prior = _design(table, x, model)
    coef, intercept = fit_model(f, y, prior)
    values = dict(zip(names, coef.tolist()))
    return {"features": model.split("+")[0], "model": model,
            "scale": {n: v for n, v in values.items() if not n.endswith("#count")},
            "offset": {n[:-len("#count")]: v for n, v in values.items() if n.endswith("#count")},
            "intercept": intercept, "ridge": RIDGE, "fitted_on": int(len(y))}, scores


def _design(table: LatencyTable, x: np.ndarray, model: str) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Column names, feature matrix and coefficient priors of one candidate model."""
    features, _, offsets = model.partition("+")
    names, f = class_features(table, x, features, bool(offsets))
    return names, f, np.array([0.0 if n.endswith("#count") else 1.0 for n in names])


def calibrated_predictions(table: LatencyTable, calibration: Optional[Dict[str, Any]], x: np.ndarray) -> np.ndarray:
    """Predictions of encoded genotypes under ``calibration`` (``None``: the raw sum)."""
    saved = table.calibration
    table.set_calibration(calibration)
    try:
        return table.costs().many(x)
    finally:
        table.set_calibration(saved)


# ---------------------------------------------------------------------------------------------
# The whole step: measure, fit on part, score on the rest, keep the fit on all


def validate_and_calibrate(table: LatencyTable, path: Path, device: DeviceSpec, n: int = 100, seed: int = 0,
                           repeats: int = 40, progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Measure ``n`` networks (and one per operation), fit the model, record how well it predicts.

    Two thirds of the ``n`` networks (and the single-operation ones) choose and fit the model;
    the other third is held out and scores it. The model kept is refitted on all networks. The
    sidecar records the raw and calibrated held-out metrics, the cross-validated error of each
    model, the re-measure noise of this machine, the load of other processes while measuring, and
    every network's measurement.
    """
    if n < MIN_NETWORKS:  # checked before anything is measured or rewritten
        raise ValueError(f"validation needs at least {MIN_NETWORKS} networks (two thirds to choose and fit the model "
                         f"by cross-validation, a third to score it), got {n}; 100 is a good choice. The table is "
                         f"unchanged")
    space = table.space
    genotypes = fitting_genotypes(space, n, seed) + single_op_genotypes(space, seed)
    timed = measure_modules(device, [lambda g=g: space.build(g) for g in genotypes], space.input_shape,
                            repeats=repeats, opset=table.meta.get("opset", 17), progress=progress)
    load = timed.load
    measured = np.array([t.latency_ms for t in timed.timings])
    x = np.stack([space.encode(g) for g in genotypes])
    table.set_calibration(None)
    raw_pred = table.costs().many(x)
    held_out = np.arange(n - n // 3, n)
    fit_on = np.setdiff1d(np.arange(len(genotypes)), held_out)
    calibration, cv = choose_and_fit(table, x[fit_on], measured[fit_on], seed)
    test = Validation(raw_pred, measured, [genotype_to_json(g) for g in genotypes]).subset(held_out)
    noise = timed.remeasure_diff()[:n]
    # The halves' ratio with the machine's drift between them divided out (it slows every network of
    # a round alike): the noise that a reading beside a reference network still has.
    ratio = np.array([a.latency_ms / b.latency_ms for a, b in timed.halves])[:n]
    residual = np.abs(ratio / np.median(ratio) - 1)
    result: Dict[str, Any] = {
        "seed": seed, "n": n, "statistic": "p10", "repeats": repeats,
        "raw": Validation(raw_pred[:n], measured[:n], []).metrics(),
        "raw_heldout": test.metrics(),
        "calibrated_heldout": test.metrics(calibrated_predictions(table, calibration, x[held_out])),
        "cv_mape_pct": cv,
        "noise": {"remeasure_within_10pct": float(np.mean(noise <= 0.10)),
                  "remeasure_median_pct": float(100 * np.median(noise)),
                  "remeasure_p90_pct": float(100 * np.percentile(noise, 90)),
                  "relative_p90_pct": float(100 * np.percentile(residual, 90)),
                  "remeasure_max_pct": float(100 * np.max(noise))},
        "load": load.to_dict() if load else None,
    }
    if calibration is not None:  # the model chosen on the fitting networks, refitted on all
        calibration, _ = choose_and_fit(table, x, measured, seed, model=calibration["model"])
    result["calibrated"] = calibration is not None
    if calibration is not None:
        result["calibration"] = calibration
    table.set_calibration(calibration)
    result["networks"] = [{"genotype": genotype_to_json(g), "table_ms": float(p), "measured_ms": float(t.latency_ms),
                           "median_ms": float(t.median_ms)}
                          for g, p, t in zip(genotypes, raw_pred, timed.timings)]
    table.meta["validation"] = result
    table.save(path)
    if load is not None and load.busy:
        log.warning("while validating, %s: the measurements may be slow; validate again on a quiet machine",
                    load.describe())
    return result
