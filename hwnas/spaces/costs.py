"""One cost of every network of a space configuration: latency from a table, parameters, FLOPs.

A :class:`Costs` is made from a price per piece (a table's latency, a piece's parameters or
FLOPs) and the space's one cost structure (:meth:`~hwnas.spaces.SearchSpace.cost_arrays`); it
prices one genotype (:meth:`Costs.of`), many encoded genotypes at once (:meth:`Costs.many`),
the search's architecture probabilities, differentiably (:meth:`Costs.expected`), and finds the
cheapest and dearest networks (:meth:`Costs.extremes`). The search, the repair, the Pareto
stage, ``info`` and the demo all read these objects, so every figure comes from one rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Protocol, Tuple

import numpy as np
import torch


@dataclass(frozen=True)
class CostArrays:
    """Costs read from a space's structure: what every network pays, each choice's cost
    (group -> [position, candidate]) and space-specific extras (NB201: every cell's cost)."""

    fixed: float
    choice: Dict[str, np.ndarray]
    extra: Dict[str, np.ndarray] = field(default_factory=dict)

    def to_torch(self, dtype: torch.dtype = torch.float32, device: Any = None) -> "TorchCosts":
        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=dtype, device=device)

        return TorchCosts(self.fixed, {k: t(v) for k, v in self.choice.items()},
                          {k: t(v) for k, v in self.extra.items()})

    def shifted(self, fixed: float) -> "CostArrays":
        """The same choice costs with ``fixed`` added to what every network pays (a per-run overhead)."""
        return CostArrays(self.fixed + fixed, self.choice, self.extra)


@dataclass(frozen=True)
class TorchCosts:
    """:class:`CostArrays` as tensors, for the differentiable expectation."""

    fixed: float
    choice: Dict[str, torch.Tensor]
    extra: Dict[str, torch.Tensor]


def linear_cost(weights: Dict[str, torch.Tensor], costs: TorchCosts) -> torch.Tensor:
    """fixed + sum over positions and candidates of weight * cost (choices that add up alone)."""
    total = None
    for group, w in weights.items():
        term = (w * costs.choice[group].to(w.dtype)).sum(dim=(-2, -1))
        total = term if total is None else total + term
    return total + costs.fixed


class PricedSpace(Protocol):
    """What a :class:`Costs` reads of its space (a :class:`~hwnas.spaces.SearchSpace`)."""

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]: ...

    def var_groups(self) -> List[List[int]]: ...

    def encode(self, genotype: Any) -> np.ndarray: ...

    def choice_weights(self, x: np.ndarray) -> Dict[str, np.ndarray]: ...

    def expected_cost(self, weights: Dict[str, torch.Tensor], costs: TorchCosts,
                      built: bool = False) -> torch.Tensor: ...


class Costs:
    """One cost of the networks of ``space``: ``built`` counts what a network builds
    (parameters) instead of what it runs (latency, FLOPs)."""

    CHUNK = 2048  # genotypes priced at once by :meth:`many` (bounds the memory of enumerations)

    def __init__(self, space: PricedSpace, arrays: CostArrays, built: bool = False) -> None:
        self.space, self.arrays, self.built = space, arrays, built
        self._torch: Dict[Tuple[torch.dtype, str], TorchCosts] = {}

    def _tensors(self, dtype: torch.dtype, device: torch.device) -> TorchCosts:
        key = (dtype, str(device))
        if key not in self._torch:
            self._torch[key] = self.arrays.to_torch(dtype, device)
        return self._torch[key]

    def expected(self, weights: Dict[str, torch.Tensor]) -> torch.Tensor:
        """The cost of the network(s) that architecture weights describe, differentiable in them
        (see :meth:`~hwnas.spaces.SearchSpace.expected_cost`); exact for one-hot weights."""
        w = next(iter(weights.values()))
        return self.space.expected_cost(weights, self._tensors(w.dtype, w.device), built=self.built)

    def many(self, x: np.ndarray) -> np.ndarray:
        """The exact cost of many encoded genotypes (rows of ``x``), vectorised."""
        x = np.asarray(x).reshape(-1, len(self.space.bounds[0]))
        out = []
        with torch.no_grad():
            for start in range(0, len(x), self.CHUNK):
                weights = self.space.choice_weights(x[start:start + self.CHUNK])
                out.append(self.expected({g: torch.from_numpy(w) for g, w in weights.items()}).numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def of(self, genotype: Any) -> float:
        """The cost of one genotype's final network."""
        return float(self.many(self.space.encode(genotype)[None])[0])

    def extremes(self) -> Tuple[np.ndarray, np.ndarray]:
        """Encoded genotypes of the cheapest and the dearest network.

        Costs are separable across the space's :meth:`~hwnas.spaces.SearchSpace.var_groups`, so
        each group is optimised alone by enumerating its values with the others at their lower
        bounds.
        """
        lower, upper = self.space.bounds
        best, worst = lower.copy(), lower.copy()
        for group in self.space.var_groups():
            grids = np.meshgrid(*[np.arange(lower[i], upper[i] + 1) for i in group], indexing="ij")
            combos = np.stack([g.ravel() for g in grids], axis=1)
            x = np.repeat(lower[None, :], len(combos), axis=0)
            x[:, group] = combos
            cost = self.many(x)
            best[group], worst[group] = combos[int(np.argmin(cost))], combos[int(np.argmax(cost))]
        return best, worst

    def range(self) -> Tuple[float, float]:
        """The cost of the cheapest and of the dearest network."""
        low, high = self.many(np.stack(self.extremes()))
        return float(low), float(high)
