"""Differentiable expected latency and parameters of the *final* network, from the table.

The costs of every (position, candidate) pair come from the space's ``edge_costs`` over the
final configuration (e.g. DARTS C=36, 20 cells), while the search trains a small proxy. For a
DARTS cell, where derivation keeps only 2 incoming edges per node, each edge's expected cost is
weighted by how likely it is to be kept, and its op distribution excludes ``none`` (derivation
never picks it); so E[LAT] at the end tracks the derived network's table latency.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F

from hwnas.spaces import Piece, SearchSpace

LOSS_FORMS = ("budget", "fbnet", "mnas", "linear")


class CostModel:
    """E[cost](weights) = fixed + sum over positions of P(kept) * sum_op p(op) * cost(op)."""

    def __init__(self, space: SearchSpace, lookup: Callable[[Piece], float], fixed: float) -> None:
        self.space = space
        self.costs = {k: torch.tensor(v, dtype=torch.float32) for k, v in space.edge_costs(lookup).items()}
        self.fixed = float(fixed)
        self._none = space.candidates.index("none") if "none" in space.candidates else None

    def expected(self, probs: Dict[str, torch.Tensor]) -> torch.Tensor:
        device = next(iter(probs.values())).device
        if next(iter(self.costs.values())).device != device:  # once: the costs follow the weights
            self.costs = {k: v.to(device) for k, v in self.costs.items()}
        total = torch.tensor(self.fixed, device=device)
        for name, cost in self.costs.items():
            p = probs[name]
            if self.space.name == "darts":
                total = total + (self._darts_keep(p).unsqueeze(1) * self._without_none(p) * cost).sum()
            else:
                total = total + (p * cost).sum()
        return total

    def _without_none(self, p: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(p.shape[1], device=p.device)
        mask[self._none] = 0.0
        q = p * mask
        return q / q.sum(dim=1, keepdim=True).clamp_min(1e-12)

    def _darts_keep(self, p: torch.Tensor) -> torch.Tensor:
        """P(edge kept) ~ 2 x its share of its node's edge strengths (strength: best non-none prob)."""
        from hwnas.spaces.darts import darts_edges

        mask = torch.ones(p.shape[1], dtype=torch.bool, device=p.device)
        mask[self._none] = False
        strength = p[:, mask].max(dim=1).values
        keep = torch.zeros_like(strength)
        edges = darts_edges()
        for node in sorted({n for n, _ in edges}):
            idx = [e for e, (n, _) in enumerate(edges) if n == node]
            s = strength[idx]
            keep = keep.index_put((torch.tensor(idx, device=p.device),), (2 * s / s.sum()).clamp(max=1.0))
        return keep


def latency_model(final_space: SearchSpace, table) -> CostModel:
    """E[LAT] in ms, from a :class:`~hwnas.lut.LatencyTable` of ``final_space``."""
    table.require(final_space.all_pieces())
    fixed = table.overhead_ms + sum(table.lookup(p) for p in _fixed_pieces(final_space))
    return CostModel(final_space, table.lookup, fixed)


def params_model(final_space: SearchSpace) -> CostModel:
    """E[P] in parameters of the final network."""
    lookup = final_space.piece_params
    return CostModel(final_space, lookup, sum(lookup(p) for p in _fixed_pieces(final_space)))


def _fixed_pieces(space: SearchSpace):
    pieces = list(space.fixed_pieces())
    if space.name == "nb201":  # sums inside cells depend on the genotype; count the full DAG's
        from hwnas.genotype import NB201_EDGES, NB201_NODES

        for c, size in space.stages():
            for to in range(2, NB201_NODES):
                fan_in = sum(1 for t, _ in NB201_EDGES if t == to)
                pieces += [Piece("add", c, c, 1, size, arity=fan_in)] * space.config()["cells_per_stage"]
    return pieces


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
