"""Accuracy / latency / size Pareto fronts with pymoo's NSGA-II over encoded genotypes.

The problem's variables are a space's integer genotype vector; its objectives are callables
handed in (each maps a batch of vectors to one value per row, to minimise), so this stage
does not know where an error estimate comes from: the NAS-Bench-201 table, a supernet's
inherited weights, or anything else. Every evaluated genotype is kept; the front, the log of
evaluations and the hypervolume per generation are written as CSV files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from hwnas.core.genotype import genotype_to_json
from hwnas.runs import write_pareto
from hwnas.spaces import SearchSpace

log = logging.getLogger(__name__)

Objective = Callable[[np.ndarray], np.ndarray]


@dataclass
class Objectives:
    """Named objectives (minimised) and constraints (feasible when <= 0), all vectorised."""

    functions: Dict[str, Objective]
    constraints: Dict[str, Objective] = field(default_factory=dict)
    units: Dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> List[str]:
        return list(self.functions)


class EvaluationCache:
    """Every genotype evaluated, once: repeated vectors are answered from memory."""

    def __init__(self, objectives: Objectives) -> None:
        self.objectives = objectives
        self.rows: Dict[tuple, Dict[str, float]] = {}
        self.order: List[tuple] = []

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.int64)
        keys = [tuple(int(v) for v in row) for row in x]
        new = [i for i, k in enumerate(keys) if k not in self.rows]
        new_unique = list({keys[i]: i for i in new}.values())
        if new_unique:
            xs = x[new_unique]
            values = {name: np.asarray(f(xs), dtype=float) for name, f in self.objectives.functions.items()}
            values.update({f"g_{name}": np.asarray(g(xs), dtype=float)
                           for name, g in self.objectives.constraints.items()})
            for j, i in enumerate(new_unique):
                self.rows[keys[i]] = {name: float(v[j]) for name, v in values.items()}
                self.order.append(keys[i])
        f = np.array([[self.rows[k][n] for n in self.objectives.names] for k in keys])
        g = np.array([[self.rows[k][f"g_{n}"] for n in self.objectives.constraints] for k in keys])
        return f, g

    @property
    def evaluations(self) -> int:
        return len(self.order)


def make_problem(space: SearchSpace, cache: EvaluationCache):
    """A pymoo problem over ``space``'s integer genotype vectors."""
    from pymoo.core.problem import Problem

    lower, upper = space.bounds
    n_constr = len(cache.objectives.constraints)

    class GenotypeProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=len(lower), n_obj=len(cache.objectives.names), n_ieq_constr=n_constr,
                             xl=lower, xu=upper, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            f, g = cache(np.round(x).astype(np.int64))
            out["F"] = f
            if n_constr:
                out["G"] = g

    return GenotypeProblem()


def non_dominated(f: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``f`` (minimisation)."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    if len(f) == 0:
        return np.array([], dtype=int)
    return np.asarray(NonDominatedSorting().do(f, only_non_dominated_front=True), dtype=int)


def hypervolume(f: np.ndarray, ref: np.ndarray) -> float:
    from pymoo.indicators.hv import HV

    f = f[np.all(f <= ref, axis=1)]
    return float(HV(ref_point=ref)(f)) if len(f) else 0.0


@dataclass
class ParetoResult:
    front: pd.DataFrame
    evaluated: pd.DataFrame
    history: pd.DataFrame
    reference_point: np.ndarray


def run_nsga2(space: SearchSpace, objectives: Objectives, pop_size: int = 40, evaluations: int = 1000,
              seed: int = 0, initial: Optional[Sequence[np.ndarray]] = None, reference_point: Optional[np.ndarray] = None,
              progress: Optional[Callable[[Dict[str, float]], None]] = None) -> ParetoResult:
    """NSGA-II with integer-aware operators until ``evaluations`` distinct genotypes were evaluated.

    ``initial`` vectors (e.g. genotypes derived by searches) seed the first population, topped
    up with random genotypes. The hypervolume per generation is computed against
    ``reference_point`` (default: 1.1 x the worst value of each objective in the first population).
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.population import Population
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair

    cache = EvaluationCache(objectives)
    problem = make_problem(space, cache)
    rng = np.random.default_rng(seed)
    lower, upper = space.bounds
    seeds = [space.check_vector(v) for v in (initial or [])]
    randoms = rng.integers(lower, upper + 1, size=(max(0, pop_size - len(seeds)), len(lower)))
    x0 = np.array(seeds + list(randoms))[: max(pop_size, len(seeds))]
    algorithm = NSGA2(pop_size=pop_size, sampling=Population.new("X", x0),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    algorithm.setup(problem, termination=("n_eval", 10 ** 9), seed=seed, verbose=False)
    history: List[Dict[str, float]] = []
    ref = reference_point
    generation = 0
    while cache.evaluations < evaluations:
        algorithm.next()
        generation += 1
        f_all = np.array([[cache.rows[k][n] for n in objectives.names] for k in cache.order])
        feasible = _feasible(cache, objectives)
        if ref is None:
            ref = 1.1 * f_all[feasible].max(axis=0) if feasible.any() else 1.1 * f_all.max(axis=0)
        front = f_all[feasible][non_dominated(f_all[feasible])] if feasible.any() else np.zeros((0, f_all.shape[1]))
        row = {"generation": generation, "evaluations": cache.evaluations, "front_size": len(front),
               "hypervolume": hypervolume(front, ref)}
        history.append(row)
        if progress:
            progress(row)
        if generation > 10 * max(1, evaluations // pop_size) + 50:
            log.warning("NSGA-II stopped finding new genotypes after %d evaluations", cache.evaluations)
            break
    evaluated = _evaluated_frame(space, cache, objectives)
    feasible = _feasible(cache, objectives)
    f_all = evaluated[objectives.names].to_numpy()
    idx = np.flatnonzero(feasible)[non_dominated(f_all[feasible])] if feasible.any() else np.array([], dtype=int)
    front = evaluated.iloc[idx].sort_values(objectives.names[0]).reset_index(drop=True)
    return ParetoResult(front, evaluated, pd.DataFrame(history), np.asarray(ref))


def _feasible(cache: EvaluationCache, objectives: Objectives) -> np.ndarray:
    if not objectives.constraints:
        return np.ones(len(cache.order), dtype=bool)
    g = np.array([[cache.rows[k][f"g_{n}"] for n in objectives.constraints] for k in cache.order])
    return np.all(g <= 0, axis=1)


def _evaluated_frame(space: SearchSpace, cache: EvaluationCache, objectives: Objectives) -> pd.DataFrame:
    rows = []
    for key in cache.order:
        rows.append({**{n: cache.rows[key][n] for n in objectives.names},
                     **{f"constraint_{n}": cache.rows[key][f"g_{n}"] for n in objectives.constraints},
                     "genotype": genotype_to_json(space.decode(np.array(key))), "vector": " ".join(map(str, key))})
    return pd.DataFrame(rows)


def write_result(result: ParetoResult, out_dir: str | Path, space: SearchSpace, objectives: Sequence[str],
                 **settings: Any) -> None:
    """``pareto.csv``, ``evaluated.csv``, ``history.csv`` and ``pareto.json`` (the run's space,
    objectives, reference point and ``settings``: device, seed, searched genotypes...)."""
    write_pareto(out_dir, {"pareto": result.front, "evaluated": result.evaluated, "history": result.history},
                 space=space.name, config=space.config(), objectives=list(objectives), **settings,
                 reference_point=result.reference_point.tolist())
