"""Architecture parameters and their relaxations.

The parameters live apart from the supernet (which holds none) and are turned into per-position
weights by a relaxation: ``softmax`` (DARTS), ``gumbel`` (FBNet: soft Gumbel-softmax with an
annealed temperature) or ``gdas`` (a hard Gumbel sample with a straight-through gradient, so
one path per position runs each step).

Progressive search (P-DARTS): :meth:`Architecture.keep_strongest` drops all but the strongest
candidates of every position; dropped logits are masked to -inf, so their weights are exactly
0 and the supernet no longer computes them.

Edge normalisation (PC-DARTS): with ``edge_nodes``, each group also has one logit per position
(an edge), softmaxed over the edges into the same node; every edge's weights are scaled by it.
The supernet's node sums and the derivation's edge ranking (strongest operation x edge weight)
both see the scaled weights, which keeps edge selection stable when partial channels make each
step's operation weights noisy.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.search.config import RELAXATIONS



class Architecture(nn.Module):
    """One ``nn.Parameter`` of logits per group of positions (e.g. DARTS normal and reduce)."""

    def __init__(self, shapes: Dict[str, Tuple[int, int]], init_scale: float = 1e-3,
                 edge_nodes: Optional[Dict[str, Sequence[int]]] = None) -> None:
        super().__init__()
        self.alphas = nn.ParameterDict({name: nn.Parameter(init_scale * torch.randn(*shape))
                                        for name, shape in shapes.items()})
        for name, shape in shapes.items():  # candidates still in the search (a buffer: checkpoints keep it)
            self.register_buffer(f"kept_{name}", torch.ones(*shape, dtype=torch.bool))
        self.betas = nn.ParameterDict({name: nn.Parameter(torch.zeros(len(nodes)))
                                       for name, nodes in (edge_nodes or {}).items()})
        # position -> node, one-hot: a softmax per node is exp / (exp summed over the node's edges)
        self._members = {name: F.one_hot(torch.as_tensor(list(nodes))).float()
                         for name, nodes in (edge_nodes or {}).items()}

    def logits(self) -> Dict[str, torch.Tensor]:
        """The logits, -inf where a candidate was dropped."""
        return {k: a.masked_fill(~getattr(self, f"kept_{k}"), float("-inf")) for k, a in self.alphas.items()}

    def keep_strongest(self, k: int) -> None:
        """Keep the ``k`` most probable candidates of every position (and fewer where fewer are left)."""
        with torch.no_grad():
            for name, logits in self.logits().items():
                top = logits.topk(min(k, logits.shape[-1]), dim=-1).indices
                kept = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, top, True)
                getattr(self, f"kept_{name}").logical_and_(kept)

    def candidates_kept(self) -> int:
        """The most candidates any position still has."""
        return max(int(getattr(self, f"kept_{name}").sum(-1).max()) for name in self.alphas)

    def edge_weights(self) -> Dict[str, torch.Tensor]:
        """Each edge's weight among the edges into its node (empty without edge normalisation)."""
        out = {}
        for name, beta in self.betas.items():
            members = self._members[name].to(beta.device, beta.dtype)
            e = torch.exp(beta - beta.max())
            out[name] = e / ((e @ members) @ members.T)
        return out

    def _scaled(self, weights: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        edges = self.edge_weights()
        return {k: w * edges[k].unsqueeze(-1) if k in edges else w for k, w in weights.items()}

    def weights(self, relax: str = "softmax", tau: float = 1.0) -> Dict[str, torch.Tensor]:
        """Per-position weights over candidates under ``relax`` (scaled by the edge weights)."""
        if relax == "softmax":
            weights = {k: F.softmax(a, dim=-1) for k, a in self.logits().items()}
        elif relax in ("gumbel", "gdas"):
            weights = {k: F.gumbel_softmax(a, tau=tau, hard=relax == "gdas", dim=-1) for k, a in self.logits().items()}
        else:
            raise ValueError(f"unknown relaxation {relax!r}; choose one of {', '.join(RELAXATIONS)}")
        return self._scaled(weights)

    def probs(self) -> Dict[str, torch.Tensor]:
        """The softmax of the logits, scaled by the edge weights: what derivation and the
        expected costs use."""
        return self._scaled({k: F.softmax(a, dim=-1) for k, a in self.logits().items()})

    def numpy_probs(self) -> Dict[str, np.ndarray]:
        return {k: p.detach().cpu().numpy() for k, p in self.probs().items()}

    def beta_decay(self) -> torch.Tensor:
        """beta-DARTS' regulariser: the mean over positions of logsumexp of the kept logits.

        Its gradient is the softmax itself, so minimising it pulls the logits of every position
        together, most strongly the dominant one: no candidate (typically the skip connection)
        can run away with a position while the weights are still being trained.
        """
        sums = [torch.logsumexp(a, dim=-1) for a in self.logits().values()]
        return torch.cat(sums).mean()

    def entropy(self) -> float:
        """Mean entropy (nats) of the per-position distributions; log(#candidates) at the start."""
        total, count = 0.0, 0
        with torch.no_grad():
            probs = {k: F.softmax(a, dim=-1) for k, a in self.logits().items()}  # before edge weights
        for p in probs.values():
            total += float(-(p * torch.log(p.clamp_min(1e-12))).sum())
            count += p.shape[0]
        return total / max(count, 1)


def temperature(epoch: int, epochs: int, tau_max: float = 5.0, tau_min: float = 0.1) -> float:
    """Exponentially annealed Gumbel temperature, ``tau_max`` at the first epoch to ``tau_min`` at the last."""
    if epochs <= 1:
        return tau_min
    return tau_max * math.exp(math.log(tau_min / tau_max) * epoch / (epochs - 1))
