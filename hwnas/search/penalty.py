"""The search's latency and parameter penalties, and their multipliers.

E[LAT] and E[P] are the final network's (e.g. DARTS C=36, 20 cells) while the search trains a
small proxy: :meth:`~hwnas.spaces.costs.Costs.expected` of the table's costs and of the final
space's parameters prices architecture probabilities by the same rule that prices a genotype,
so at a one-hot architecture E[LAT] is exactly the table's prediction of that genotype.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from hwnas.search.config import LOSS_FORMS, SearchConfig


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
