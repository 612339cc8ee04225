"""What a Pareto run minimises, assembled in one place for ``hwnas pareto`` and the demo.

Each objective maps a batch of encoded genotypes to one value per row: ``error`` from a
one-shot supernet or the NAS-Bench-201 table, ``latency`` from the device's latency table (at
the device's precision), ``latency_fp32``, ``latency_fp16`` and ``latency_int8`` from the tables
of the same device at each precision, ``params`` and ``flops`` from the space's cost structure,
``size_mb`` the weights' megabytes at the device's precision, ``latency_<device>`` from the
benchmark's measured latencies. Budgets become constraints (feasible when <= 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from hwnas.pareto.nb201_bench import DEVICES as NB201_DEVICES

if TYPE_CHECKING:
    from hwnas.spaces import SearchSpace
    from hwnas.table import LatencyTable

Objective = Callable[[np.ndarray], np.ndarray]
PRECISIONS = ("fp32", "fp16", "int8")  # those with tables (hwnas.device.precision)
OBJECTIVES = ("error", "latency", *(f"latency_{p}" for p in PRECISIONS), "params", "flops", "size_mb",
              *(f"latency_{device}" for device in NB201_DEVICES))
BYTES_PER_WEIGHT = {"fp32": 4, "fp16": 2, "int8": 1}  # size_mb counts weights only (not int8's scales)
# What ranks genotypes by accuracy from a search run (hwnas.pareto.estimates): the supernet's
# inherited weights, a zero-cost score (hwnas.pareto.zero_cost.PROXIES), or an accuracy
# predictor fitted on genotypes the user trained (hwnas.pareto.predictor).
ZERO_COST = ("naswot", "synflow", "snip", "grad_norm")
ESTIMATES = ("one-shot", *ZERO_COST, "predictor")
DEFAULT_ESTIMATE = "naswot"  # the best Kendall tau in scripts/bench_estimators.py (docs/results/pareto.md)


def describe_estimate(estimate: Optional[str]) -> str:
    """How an error estimate reads in plots and reports."""
    if estimate in (None, "one-shot"):
        return "error (%, one-shot)" if estimate else "error (%)"
    if estimate == "nb201":
        return "error (%, NAS-Bench-201)"
    if estimate == "predictor":
        return "error (%, predicted from trained genotypes)"
    return f"-{estimate} score (zero-cost, lower is better)"


@dataclass
class Objectives:
    """Named objectives (minimised) and constraints (feasible when <= 0), all vectorised."""

    functions: Dict[str, Objective]
    constraints: Dict[str, Objective] = field(default_factory=dict)
    units: Dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> List[str]:
        return list(self.functions)


def check_names(names: Sequence[str]) -> None:
    """Two or more different, known objectives."""
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown or len(names) < 2 or len(set(names)) < len(names):
        raise ValueError(f"--objectives takes two or more different ones of {', '.join(OBJECTIVES)}; got "
                         f"{' '.join(names)}")


def assemble(names: Sequence[str], space: "SearchSpace", *, error: Optional[Objective] = None,
             table: Optional["LatencyTable"] = None,
             benchmark: Optional[Mapping[str, Objective]] = None, latency_budget_ms: Optional[float] = None,
             param_budget: Optional[float] = None, precision: str = "fp32",
             tables_at: Optional[Mapping[str, "LatencyTable"]] = None) -> Objectives:
    """The objectives ``names`` over ``space``, each from the first source that has it: the
    benchmark's table, the one-shot ``error``, the latency ``table`` (the device's, at its
    ``precision``) and ``tables_at`` (the device's at each precision), the space's costs."""
    check_names(names)
    available: Dict[str, Objective] = dict(benchmark or {})
    if error is not None:
        available.setdefault("error", error)
    if table is not None:
        available.setdefault("latency", lambda x: table.costs().many(x))
    for at, other in (tables_at or {}).items():
        available.setdefault(f"latency_{at}", lambda x, other=other: other.costs().many(x))
    available.setdefault("size_mb", lambda x: space.params.many(x) * BYTES_PER_WEIGHT[precision] / 1e6)
    # counted when first asked for: FLOPs of every piece take seconds to count
    available.setdefault("params", lambda x: space.params.many(x))
    available.setdefault("flops", lambda x: space.flops.many(x))
    missing = [n for n in names if n not in available]
    if missing:
        needs = {"error": "search runs (one-shot, from the first run's supernet) or --benchmark nb201",
                 "latency": "the device's latency table",
                 **{f"latency_{p}": f"the device's latency table at {p}" for p in PRECISIONS}}
        raise ValueError("; ".join(f"objective {n} needs {needs.get(n, '--benchmark nb201 (its device latencies)')}"
                                   for n in missing))
    constraints: Dict[str, Objective] = {}
    if latency_budget_ms is not None:
        if table is None:
            raise ValueError("a latency budget needs the device's latency table")
        constraints["latency"] = lambda x: table.costs().many(x) - latency_budget_ms
    if param_budget is not None:
        params = available["params"]
        constraints["params"] = lambda x: params(x) - param_budget
    return Objectives({n: available[n] for n in names}, constraints)
