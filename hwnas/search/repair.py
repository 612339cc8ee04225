"""Repair a derived genotype that breaks its latency or parameter budget.

A space small enough to list whole (NAS-Bench-201: 15,625 cells) is searched exactly: of all
genotypes that keep every budget, the one of most architecture weight (sum of log-probabilities
of its choices), preferring those that keep the skip cap. Larger spaces are repaired greedily:
among all genotypes one choice away that keep every other budget (and the skip cap, where any
does), take the change that gives up the least architecture weight per unit of cost saved, until
the budget holds.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from hwnas.spaces.genotypes import Genotype, skip_connections
from hwnas.spaces import SearchSpace
from hwnas.spaces.costs import Costs

EXACT_UP_TO = 100_000  # spaces with at most this many genotypes are searched whole


def listable(space: SearchSpace) -> bool:
    """Whether the space has at most :data:`EXACT_UP_TO` genotypes, so budgets can be kept exactly."""
    lower, upper = space.bounds
    return float(np.prod((upper - lower + 1).astype(float))) <= EXACT_UP_TO


def every_vector(space: SearchSpace) -> Optional[np.ndarray]:
    """Every encoded genotype of a :func:`listable` space (None for a larger one)."""
    if not listable(space):
        return None
    lower, upper = space.bounds
    return np.indices(upper - lower + 1).reshape(len(lower), -1).T + lower


def repair_to_budget(space: SearchSpace, costs: Costs, genotype: Genotype, probs: Dict[str, np.ndarray],
                     budget: float, unit: str = "ms", keep: Sequence[Tuple[Costs, float]] = (),
                     max_swaps: int = 200, max_skip: Optional[int] = None) -> Tuple[Genotype, List[str]]:
    """The repaired genotype and a description of each change; an error if the budget is out of reach.

    ``keep``: other (cost, budget) pairs that no change may break. ``max_skip``: the derivation's
    skip cap, kept where any genotype within the budgets (the exact search) or any next change
    (the greedy one) keeps it.
    """
    every = every_vector(space)
    if every is not None:
        return _best_within(space, every, costs, genotype, probs, budget, unit, keep, max_skip)
    x = space.encode(genotype)
    lower, upper = space.bounds
    swaps: List[str] = []
    cost = float(costs.many(x[None])[0])
    while cost > budget:
        if len(swaps) >= max_swaps:
            raise ValueError(f"could not bring the genotype under {budget:g} {unit} in {max_swaps} swaps")
        candidates = []
        for i in range(len(x)):
            for v in range(lower[i], upper[i] + 1):
                if v != x[i]:
                    y = x.copy()
                    y[i] = v
                    candidates.append(y)
        candidates = np.array(candidates)
        saves = cost - costs.many(candidates)
        ok = saves > 1e-9
        for other_cost, other_budget in keep:
            ok &= other_cost.many(candidates) <= other_budget
        if not ok.any():
            raise ValueError(f"no single change lowers the cost below {cost:g} {unit} within the other budgets; "
                             f"the budget {budget:g} {unit} is out of reach from this genotype")
        decoded = [space.decode(y) for y in candidates]
        if max_skip is not None:  # as in the exact search: keep the cap where some change can
            capped = ok & np.array([skip_connections(g) <= max_skip for g in decoded])
            ok = capped if capped.any() else ok
        before = space.decode(x)
        score = space.choice_score(before, probs)
        loss = np.array([score - space.choice_score(g, probs) if good else np.inf for g, good in zip(decoded, ok)])
        best = int(np.argmin(np.where(ok, loss / np.maximum(saves, 1e-12), np.inf)))
        after = decoded[best]
        swaps += _describe_all(before, after, f"-{saves[best]:.4g} {unit}")
        x, cost = candidates[best], cost - float(saves[best])
    return space.decode(x), swaps


def _best_within(space: SearchSpace, every: np.ndarray, costs: Costs, genotype: Genotype,
                 probs: Dict[str, np.ndarray], budget: float, unit: str, keep: Sequence[Tuple[Costs, float]],
                 max_skip: Optional[int]) -> Tuple[Genotype, List[str]]:
    """The genotype of most architecture weight among all that keep every budget."""
    ok = costs.many(every) <= budget
    for other_cost, other_budget in keep:
        ok &= other_cost.many(every) <= other_budget
    if not ok.any():
        raise ValueError(f"no {space.name} genotype keeps {budget:g} {unit} within the other budgets; the budget is "
                         f"out of reach")
    feasible = [space.decode(v) for v in every[ok]]
    capped = [max_skip is None or skip_connections(g) <= max_skip for g in feasible]
    if any(capped):  # the cap guards against collapse; the budget is the promise, so it wins where they clash
        feasible = [g for g, c in zip(feasible, capped) if c]
    best = max(feasible, key=lambda g: space.choice_score(g, probs))
    before = float(costs.many(space.encode(genotype)[None])[0])
    after = float(costs.many(space.encode(best)[None])[0])
    return best, _describe_all(genotype, best, f"{after - before:+.4g} {unit} in all")


def _describe_all(before: Genotype, after: Genotype, saved: str) -> List[str]:
    """One line per changed position of the genotype (the last one carries ``saved``)."""
    a, b = before.to_dict(), after.to_dict()
    lines = []
    for key in a:
        if a[key] != b[key] and isinstance(a[key], list):
            lines += [f"{key}[{i}] {u} -> {v}" for i, (u, v) in enumerate(zip(a[key], b[key])) if u != v]
        elif a[key] != b[key]:
            lines.append(f"{key}: {a[key]} -> {b[key]}")
    return lines[:-1] + [f"{lines[-1]} ({saved})"] if lines else [f"({saved})"]
