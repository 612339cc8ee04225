"""Repair a derived genotype that breaks its latency or parameter budget.

Greedy: among all genotypes one choice away that keep every other budget, take the change that
gives up the least architecture weight (sum of log-probabilities of the choices) per unit of
cost saved, until the budget holds.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from hwnas.core.genotype import Genotype
from hwnas.spaces import SearchSpace

CostMany = Callable[[np.ndarray], np.ndarray]  # encoded genotypes (rows) -> one cost each


def repair_to_budget(space: SearchSpace, cost_many: CostMany, genotype: Genotype, probs: Dict[str, np.ndarray],
                     budget: float, unit: str = "ms", keep: Sequence[Tuple[CostMany, float]] = (),
                     max_swaps: int = 200) -> Tuple[Genotype, List[str]]:
    """The repaired genotype and a description of each swap; an error if the budget is out of reach.

    ``keep``: other (cost, budget) pairs that no swap may break.
    """
    x = space.encode(genotype)
    lower, upper = space.bounds
    swaps: List[str] = []
    cost = float(cost_many(x[None])[0])
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
        saves = cost - cost_many(candidates)
        ok = saves > 1e-9
        for other_cost, other_budget in keep:
            ok &= other_cost(candidates) <= other_budget
        if not ok.any():
            raise ValueError(f"no single change lowers the cost below {cost:g} {unit} within the other budgets; "
                             f"the budget {budget:g} {unit} is out of reach from this genotype")
        score = space.choice_score(space.decode(x), probs)
        loss = np.array([score - space.choice_score(space.decode(y), probs) if good else np.inf
                         for y, good in zip(candidates, ok)])
        best = int(np.argmin(np.where(ok, loss / np.maximum(saves, 1e-12), np.inf)))
        before, after = space.decode(x), space.decode(candidates[best])
        swaps.append(_describe(before, after, f"-{saves[best]:.4g} {unit}"))
        x, cost = candidates[best], cost - float(saves[best])
    return space.decode(x), swaps


def _describe(before: Genotype, after: Genotype, saved: str) -> str:
    a, b = before.to_dict(), after.to_dict()
    for key in a:
        if a[key] != b[key] and isinstance(a[key], list):
            for i, (u, v) in enumerate(zip(a[key], b[key])):
                if u != v:
                    return f"{key}[{i}] {u} -> {v} ({saved})"
        elif a[key] != b[key]:
            return f"{key}: {a[key]} -> {b[key]} ({saved})"
    return f"({saved})"
