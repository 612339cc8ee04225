"""Repair a derived genotype that breaks the latency budget.

Greedy: among all genotypes one choice away, take the change that gives up the least
architecture weight (sum of log-probabilities of the choices) per millisecond saved, until the
table says the budget holds.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from hwnas.genotype import Genotype
from hwnas.spaces import SearchSpace


def repair_to_budget(space: SearchSpace, table, genotype: Genotype, probs: Dict[str, np.ndarray],
                     budget_ms: float, max_swaps: int = 200) -> Tuple[Genotype, List[str]]:
    """The repaired genotype and a description of each swap; an error if the budget is out of reach."""
    x = space.encode(genotype)
    lower, upper = space.bounds
    swaps: List[str] = []
    latency = float(table.predict_many(x[None])[0])
    while latency > budget_ms:
        if len(swaps) >= max_swaps:
            raise ValueError(f"could not bring the genotype under {budget_ms:g} ms in {max_swaps} swaps")
        candidates = []
        for i in range(len(x)):
            for v in range(lower[i], upper[i] + 1):
                if v != x[i]:
                    y = x.copy()
                    y[i] = v
                    candidates.append(y)
        candidates = np.array(candidates)
        lat = table.predict_many(candidates)
        saves = latency - lat
        ok = saves > 1e-9
        if not ok.any():
            raise ValueError(f"no single change lowers the latency below {latency:.3f} ms; the budget "
                             f"{budget_ms:g} ms is out of reach from this genotype")
        score = space.choice_score(space.decode(x), probs)
        loss = np.array([score - space.choice_score(space.decode(y), probs) if good else np.inf
                         for y, good in zip(candidates, ok)])
        best = int(np.argmin(np.where(ok, loss / np.maximum(saves, 1e-12), np.inf)))
        before, after = space.decode(x), space.decode(candidates[best])
        swaps.append(_describe(before, after, float(saves[best])))
        x, latency = candidates[best], float(lat[best])
    return space.decode(x), swaps


def _describe(before: Genotype, after: Genotype, saved_ms: float) -> str:
    a, b = before.to_dict(), after.to_dict()
    for key in a:
        if a[key] != b[key] and isinstance(a[key], list):
            for i, (u, v) in enumerate(zip(a[key], b[key])):
                if u != v:
                    return f"{key}[{i}] {u} -> {v} (-{saved_ms:.3f} ms)"
        elif a[key] != b[key]:
            return f"{key}: {a[key]} -> {b[key]} (-{saved_ms:.3f} ms)"
    return f"(-{saved_ms:.3f} ms)"
