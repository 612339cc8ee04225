"""Plots of Pareto fronts: one per pair of objectives, each with that pair's own front (the
genotypes no other beats in both, a step line), the members of the whole front, and where the
searched genotypes stand; the hypervolume per generation. A zero-cost error estimate is drawn as
what a reader can use, the genotype's rank among those evaluated, not its raw score."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from hwnas.core import fileio
from hwnas.pareto.nsga2 import non_dominated
from hwnas.pareto.objectives import PRECISIONS, ZERO_COST, describe_estimate

LABELS = {"latency": "latency (ms)", "params": "parameters (M)", "flops": "FLOPs (M)"}
SCALE = {"params": 1e-6, "flops": 1e-6}


def axis_label(name: str, device: Optional[str], estimate: Optional[str] = None) -> str:
    if name == "error" and estimate in ZERO_COST:
        return f"accuracy rank by {estimate} (% of evaluated ranked better)"
    if name == "error":
        return describe_estimate(estimate)
    if name.startswith("latency_") and name[len("latency_"):] in PRECISIONS:
        return f"latency at {name[len('latency_'):]}" + (f" on {device}" if device else "") + " (ms)"
    if name.startswith("latency_"):
        return f"latency on {name[len('latency_'):]} (ms, NAS-Bench-201)"
    if name == "latency" and device:
        return f"latency on {device} (ms)"
    return LABELS.get(name, name)


def read_run(run_dir: Path) -> Tuple[Dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A Pareto run folder's ``pareto.json``, ``evaluated.csv``, ``pareto.csv`` and ``history.csv``,
    checked to hold what the plots read; a damaged file is a ValueError naming it."""
    rerun = "run hwnas pareto again to rewrite it"
    meta_path = run_dir / "pareto.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: is {run_dir} a Pareto run folder (hwnas pareto --out)?")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{meta_path} is not valid JSON ({type(exc).__name__}); {rerun}") from None
    names = meta.get("objectives") if isinstance(meta, dict) else None
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names)) \
            or not isinstance(meta.get("space"), str):
        raise ValueError(f"{meta_path} does not name a space and two or more objectives; {rerun}")
    frames = []
    for stem, columns in (("evaluated", names + ["genotype"]), ("pareto", names + ["genotype"]),
                          ("history", ["evaluations", "hypervolume"])):
        path = run_dir / f"{stem}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the Pareto run in {run_dir} is incomplete; {rerun}")
        try:
            frame = pd.read_csv(path)
        except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
            raise ValueError(f"{path} cannot be read as CSV ({type(exc).__name__}); {rerun}") from None
        missing = [c for c in columns if c not in frame.columns]
        numeric = [c for c in columns if c != "genotype" and c in frame.columns]
        if missing or len(frame) and not all(pd.api.types.is_numeric_dtype(frame[c]) for c in numeric):
            raise ValueError(f"{path} lacks numeric column(s) {', '.join(missing or numeric)}; {rerun}")
        frames.append(frame)
    return (meta, *frames)


def feasible(evaluated: pd.DataFrame) -> pd.DataFrame:
    """The evaluated genotypes that keep every constraint (``constraint_*`` columns at most 0)."""
    limits = [c for c in evaluated.columns if c.startswith("constraint_")]
    return evaluated[(evaluated[limits] <= 0).all(axis=1)] if limits else evaluated


def pair_front(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """The rows no other row beats in both ``a`` and ``b`` (minimised), sorted by ``b``."""
    return frame.iloc[non_dominated(frame[[a, b]].to_numpy(dtype=float))].sort_values([b, a])


def beaten_by(frame: pd.DataFrame, a: str, b: str, row: pd.Series) -> int:
    """How many rows of ``frame`` are at least as good as ``row`` in ``a`` and ``b`` and better in one."""
    at_least = (frame[a] <= row[a]) & (frame[b] <= row[b])
    return int((at_least & ((frame[a] < row[a]) | (frame[b] < row[b]))).sum())


def standing(frame: pd.DataFrame, marked: pd.DataFrame, a: str, b: str) -> str:
    """Where each ``marked`` row (a searched genotype) stands among ``frame`` in ``a`` and ``b``."""
    return "; ".join("on this front" if not n else f"{n} evaluated beat it in both"
                     for n in (beaten_by(frame, a, b, row) for _, row in marked.iterrows()))


def readable(evaluated: pd.DataFrame, estimate: Optional[str]) -> Callable[[pd.DataFrame, str], pd.Series]:
    """What an objective's axis shows: parameters and FLOPs in millions, a zero-cost error
    estimate as the percentage of evaluated genotypes it ranks better (0: the best)."""
    ranked = np.sort(evaluated["error"].to_numpy(dtype=float)) if "error" in evaluated else None

    def values(frame: pd.DataFrame, name: str) -> pd.Series:
        if name == "error" and estimate in ZERO_COST and ranked is not None and len(ranked):
            better = np.searchsorted(ranked, frame[name].to_numpy(dtype=float), side="left")
            return pd.Series(100.0 * better / len(ranked), index=frame.index)
        return frame[name] * SCALE.get(name, 1.0)

    return values


def plot_run(run_dir: str | Path, formats=("png", "svg")) -> List[Path]:
    """Write ``front_A_vs_B.png/svg`` per pair of objectives and ``hypervolume.png/svg`` for a
    Pareto run directory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    meta, evaluated, front, history = read_run(run_dir)
    names: List[str] = meta["objectives"]
    device = meta.get("device")
    estimate = meta.get("error_estimate") or ("nb201" if meta.get("benchmark") else None)
    marked = evaluated[evaluated["genotype"].isin(set(meta.get("searched", [])))]
    ok, values = feasible(evaluated), readable(evaluated, estimate)
    written = []

    def save(fig, stem: str) -> None:
        for fmt in formats:
            path = run_dir / f"{stem}.{fmt}"
            with fileio.atomic_open(path, "wb", encoding=None) as handle:
                fig.savefig(handle, format=fmt, dpi=130, bbox_inches="tight")
            written.append(path)
        plt.close(fig)

    for a, b in itertools.combinations(names, 2):
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        ax.scatter(values(evaluated, b), values(evaluated, a), s=10, color="0.75", alpha=0.6, label="evaluated")
        pair = pair_front(ok, a, b)
        ax.step(values(pair, b), values(pair, a), where="post", color="crimson", lw=1.4,
                label=f"front of {a} and {b}")
        if len(names) > 2:
            ax.scatter(values(front, b), values(front, a), s=28, facecolors="none", edgecolors="crimson", lw=0.9,
                       label=f"on the front of all {len(names)} objectives")
        if len(marked):
            ax.scatter(values(marked, b), values(marked, a), marker="*", s=200, color="orange", edgecolor="k",
                       zorder=5, label="searched")
        ax.set_xlabel(axis_label(b, device, estimate))
        ax.set_ylabel(axis_label(a, device, estimate))
        title = f"{meta['space']}: {a} vs {b}" + (f" ({device})" if device and "latency" in (a, b) else "")
        where = standing(ok, marked, a, b)
        ax.set_title(title + (f"\nsearched genotype: {where}" if where else ""), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        save(fig, f"front_{a}_vs_{b}")
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(history["evaluations"], history["hypervolume"], "-o", ms=3)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume")
    ax.set_title(f"{meta['space']}: hypervolume per generation (NSGA-II)")
    ax.grid(alpha=0.3)
    save(fig, "hypervolume")
    return written
