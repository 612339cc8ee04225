"""Accuracy / latency / size Pareto fronts with pymoo's NSGA-II over encoded genotypes.

The problem's variables are a space's integer genotype vector; its objectives are callables
handed in (each maps a batch of vectors to one value per row, to minimise), so this stage
does not know where an error estimate comes from: the NAS-Bench-201 table, a supernet's
inherited weights, or anything else. Every evaluated genotype is kept; the front, the log of
evaluations and the hypervolume per generation are written as CSV files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.callback import Callback
from pymoo.core.population import Population
from pymoo.core.termination import TerminateIfAny, Termination
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.optimize import minimize
from pymoo.termination.max_gen import MaximumGenerationTermination

from hwnas.spaces.genotypes import genotype_to_json
from hwnas.pareto.mutation import ChoiceMutation
from hwnas.pareto.objectives import Objectives
from hwnas.runs import write_pareto
from hwnas.spaces import SearchSpace

log = logging.getLogger(__name__)


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


class DistinctEvaluations(Termination):
    """Done when ``target`` distinct genotypes were evaluated (repeats are free: the cache
    answers them)."""

    def __init__(self, cache: EvaluationCache, target: int) -> None:
        super().__init__()
        self.cache, self.target = cache, target

    def _update(self, algorithm) -> float:
        return self.cache.evaluations / self.target


class FrontHistory(Callback):
    """After each generation: the feasible front's size and hypervolume against ``ref``
    (default: 1.1 x the worst value of each objective in the first population)."""

    def __init__(self, cache: EvaluationCache, ref: Optional[np.ndarray] = None,
                 progress: Optional[Callable[[Dict[str, float]], None]] = None) -> None:
        super().__init__()
        self.cache, self.ref, self.progress = cache, ref, progress
        self.rows: List[Dict[str, float]] = []

    def notify(self, algorithm) -> None:
        cache, names = self.cache, self.cache.objectives.names
        f_all = np.array([[cache.rows[k][n] for n in names] for k in cache.order])
        feasible = _feasible(cache, cache.objectives)
        if self.ref is None:
            self.ref = 1.1 * (f_all[feasible] if feasible.any() else f_all).max(axis=0)
        front = f_all[feasible][non_dominated(f_all[feasible])] if feasible.any() else np.zeros((0, len(names)))
        row = {"generation": len(self.rows) + 1, "evaluations": cache.evaluations, "front_size": len(front),
               "hypervolume": hypervolume(front, self.ref)}
        self.rows.append(row)
        if self.progress:
            self.progress(row)


def check_settings(pop_size: int, evaluations: int) -> None:
    """A population of at least 2, and evaluations enough for its first generation."""
    if pop_size < 2 or evaluations < pop_size:
        raise ValueError(f"--evaluations ({evaluations}) must be at least --pop-size ({pop_size}), and the "
                         f"population at least 2: NSGA-II evaluates a whole first generation")


def run_nsga2(space: SearchSpace, objectives: Objectives, pop_size: int = 40, evaluations: int = 1000,
              seed: int = 0, initial: Optional[Sequence[np.ndarray]] = None, reference_point: Optional[np.ndarray] = None,
              progress: Optional[Callable[[Dict[str, float]], None]] = None) -> ParetoResult:
    """NSGA-II over genotype vectors until ``evaluations`` distinct genotypes were evaluated.

    Variables are choices, so offspring come from uniform crossover (each variable from one
    parent) and a categorical mutation (:class:`~hwnas.pareto.mutation.ChoiceMutation`).
    ``initial`` vectors (e.g. genotypes derived by searches) seed the first population, topped
    up with random genotypes. The hypervolume per generation is computed against
    ``reference_point`` (default: 1.1 x the worst value of each objective in the first population).
    """
    check_settings(pop_size, evaluations)
    cache = EvaluationCache(objectives)
    problem = make_problem(space, cache)
    rng = np.random.default_rng(seed)
    lower, upper = space.bounds
    seeds = [space.check_vector(v) for v in (initial or [])]
    randoms = rng.integers(lower, upper + 1, size=(max(0, pop_size - len(seeds)), len(lower)))
    x0 = np.array(seeds + list(randoms))[: max(pop_size, len(seeds))]
    # Light mutation: crossover refines the front; mutating every offspring lowered the
    # NAS-Bench-201 hypervolume at 500-1000 evaluations (scripts/bench_pareto.py).
    algorithm = NSGA2(pop_size=pop_size, sampling=Population.new("X", x0), crossover=UniformCrossover(prob=0.9),
                      mutation=ChoiceMutation(prob=0.3), eliminate_duplicates=True)
    # a cap on generations, should NSGA-II stop finding new genotypes
    termination = TerminateIfAny(DistinctEvaluations(cache, evaluations),
                                 MaximumGenerationTermination(10 * max(1, evaluations // pop_size) + 50))
    history = FrontHistory(cache, reference_point, progress)
    minimize(problem, algorithm, termination, seed=seed, callback=history, verbose=False, copy_algorithm=False,
             copy_termination=False)
    if cache.evaluations < evaluations:
        log.warning("NSGA-II stopped finding new genotypes after %d evaluations", cache.evaluations)
    evaluated = _evaluated_frame(space, cache, objectives)
    feasible = _feasible(cache, objectives)
    f_all = evaluated[objectives.names].to_numpy()
    idx = np.flatnonzero(feasible)[non_dominated(f_all[feasible])] if feasible.any() else np.array([], dtype=int)
    front = evaluated.iloc[idx].sort_values(objectives.names[0]).reset_index(drop=True)
    return ParetoResult(front, evaluated, pd.DataFrame(history.rows), np.asarray(history.ref))


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
