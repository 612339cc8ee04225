"""Differentiable expected latency and parameters of the *final* network, from the table.

The costs of every (position, candidate) pair come from the space's one cost structure over
the final configuration (e.g. DARTS C=36, 20 cells), while the search trains a small proxy; the
space's :meth:`~hwnas.spaces.SearchSpace.expected_cost` turns architecture probabilities into
the expected cost by the same rule that prices a genotype, so at a one-hot architecture E[LAT]
is exactly the table's prediction of that genotype.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from hwnas.search.config import LOSS_FORMS, SearchConfig
from hwnas.spaces import SearchSpace
from hwnas.spaces.base import CostArrays



class CostModel:
    """E[cost](architecture probabilities) of the final network, read from the space's structure."""

    def __init__(self, space: SearchSpace, costs: CostArrays, built: bool = False) -> None:
        self.space, self.costs, self.built = space, costs, built
        self._torch = costs.to_torch()

    def expected(self, probs: Dict[str, torch.Tensor]) -> torch.Tensor:
        device = next(iter(probs.values())).device
        if next(iter(self._torch.choice.values())).device != device:  # once: the costs follow the weights
            self._torch = self.costs.to_torch(device=device)
        return self.space.expected_cost(probs, self._torch, built=self.built)


def latency_model(final_space: SearchSpace, table) -> CostModel:
    """E[LAT] in ms, from a :class:`~hwnas.table.LatencyTable` of ``final_space``."""
    return CostModel(final_space, table.cost_arrays())


def params_model(final_space: SearchSpace) -> CostModel:
    """E[P] in parameters of the final network."""
    return CostModel(final_space, final_space.params_costs(), built=True)


def penalty_loss(ce: torch.Tensor, lat: torch.Tensor, form: str, target_ms: Optional[float],
                 weight: float, multiplier: float, alpha: float = 0.2, beta: float = 0.6,
                 mnas_w: float = -0.07) -> torch.Tensor:
    """The architecture loss under one latency-loss form.

    - ``budget``: CE + multiplier * relu(LAT / T - 1), the multiplier adapted by the loop until
      the derived network keeps the budget;
    - ``fbnet``: CE * alpha * log(1 + LAT) ** beta (FBNet, eq. 2, with log(1 + LAT) so that the
      term keeps its gradient for networks under 1 ms; for FBNet's 10-30 ms it is log(LAT));
    - ``mnas``: MnasNet's soft target ACC * (LAT / T) ** w as a loss: CE - w * log(LAT / T);
    - ``linear``: CE + weight * LAT.
    """
    if form == "budget":
        return ce + multiplier * F.relu(lat / target_ms - 1.0)
    if form == "fbnet":
        return ce * alpha * torch.log1p(lat) ** beta
    if form == "mnas":
        return ce - mnas_w * torch.log(lat / target_ms)
    if form == "linear":
        return ce + weight * lat
    raise ValueError(f"unknown latency loss {form!r}; choose one of {', '.join(LOSS_FORMS)}")


class Multipliers:
    """The budget penalties' multipliers, one dual step per epoch: a multiplier doubles while the
    derived network breaks its budget and halves (not below 1) while the budget holds, so a
    penalty that has done its work stops pushing the network further under the budget."""

    def __init__(self, latency: float = 1.0, params: float = 1.0) -> None:
        self.latency, self.params = latency, params

    @staticmethod
    def _step(multiplier: float, over: bool) -> float:
        return multiplier * 2.0 if over else max(1.0, multiplier / 2.0)

    def adapt(self, cfg: SearchConfig, costs: Dict[str, float]) -> None:
        """One step from the derived network's ``costs`` (``derived_latency_ms``, ``derived_params``)."""
        if cfg.latency_budget_ms and cfg.latency_loss == "budget" and "derived_latency_ms" in costs:
            self.latency = self._step(self.latency, costs["derived_latency_ms"] > cfg.latency_budget_ms)
        if cfg.param_budget:
            self.params = self._step(self.params, costs["derived_params"] > cfg.param_budget)

    def to_list(self) -> List[float]:
        return [self.latency, self.params]
