"""Plots of Pareto fronts: error vs latency, 2-D projections, hypervolume per generation."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pandas as pd

from hwnas.core import fileio
from hwnas.pareto.objectives import PRECISIONS, describe_estimate

LABELS = {"latency": "latency (ms)", "params": "parameters (M)", "flops": "FLOPs (M)"}
SCALE = {"params": 1e-6, "flops": 1e-6}


def _label(name: str, device: Optional[str], estimate: Optional[str] = None) -> str:
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
    for stem, columns in (("evaluated", names + ["genotype"]), ("pareto", names), ("history", ["evaluations", "hypervolume"])):
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


def plot_run(run_dir: str | Path, formats=("png", "svg")) -> List[Path]:
    """Write ``front_*.png/svg`` and ``hypervolume.png/svg`` for a Pareto run directory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    meta, evaluated, front, history = read_run(run_dir)
    names: List[str] = meta["objectives"]
    device = meta.get("device")
    estimate = meta.get("error_estimate") or ("nb201" if meta.get("benchmark") else None)
    searched = set(meta.get("searched", []))
    written = []

    def save(fig, stem: str) -> None:
        for fmt in formats:
            path = run_dir / f"{stem}.{fmt}"
            with fileio.atomic_open(path, "wb", encoding=None) as handle:
                fig.savefig(handle, format=fmt, dpi=130, bbox_inches="tight")
            written.append(path)
        plt.close(fig)

    def values(frame: pd.DataFrame, name: str):
        return frame[name] * SCALE.get(name, 1.0)

    for a, b in itertools.combinations(names, 2):
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        third = [n for n in names if n not in (a, b)]
        if third:
            c = values(evaluated, third[0])
            sc = ax.scatter(values(evaluated, b), values(evaluated, a), c=c, s=10, cmap="viridis", alpha=0.5,
                            label="evaluated")
            fig.colorbar(sc, ax=ax, label=_label(third[0], device, estimate))
        else:
            ax.scatter(values(evaluated, b), values(evaluated, a), s=10, color="0.7", alpha=0.6, label="evaluated")
        f2 = front.sort_values(b)
        ax.plot(values(f2, b), values(f2, a), "-o", color="crimson", ms=4, lw=1.2, label="Pareto front")
        marked = evaluated[evaluated["genotype"].isin(searched)]
        if len(marked):
            ax.scatter(values(marked, b), values(marked, a), marker="*", s=180, color="orange",
                                edgecolor="k", zorder=5, label="searched genotypes")
        ax.set_xlabel(_label(b, device, estimate))
        ax.set_ylabel(_label(a, device, estimate))
        ax.set_title(f"{meta['space']}: {a} vs {b}" + (f" ({device})" if device and "latency" in (a, b) else ""))
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
