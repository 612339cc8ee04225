"""Architecture parameters and their relaxations.

The parameters live apart from the supernet (which holds none) and are turned into per-position
weights by a relaxation: ``softmax`` (DARTS), ``gumbel`` (FBNet: soft Gumbel-softmax with an
annealed temperature) or ``gdas`` (a hard Gumbel sample with a straight-through gradient, so
one path per position runs each step).
"""

from __future__ import annotations

import math
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.search.config import RELAXATIONS



class Architecture(nn.Module):
    """One ``nn.Parameter`` of logits per group of positions (e.g. DARTS normal and reduce)."""

    def __init__(self, shapes: Dict[str, Tuple[int, int]], init_scale: float = 1e-3) -> None:
        super().__init__()
        self.alphas = nn.ParameterDict({name: nn.Parameter(init_scale * torch.randn(*shape))
                                        for name, shape in shapes.items()})

    def weights(self, relax: str = "softmax", tau: float = 1.0) -> Dict[str, torch.Tensor]:
        """Per-position weights over candidates under ``relax``."""
        if relax == "softmax":
            return {k: F.softmax(a, dim=-1) for k, a in self.alphas.items()}
        if relax in ("gumbel", "gdas"):
            return {k: F.gumbel_softmax(a, tau=tau, hard=relax == "gdas", dim=-1) for k, a in self.alphas.items()}
        raise ValueError(f"unknown relaxation {relax!r}; choose one of {', '.join(RELAXATIONS)}")

    def probs(self) -> Dict[str, torch.Tensor]:
        """The softmax of the logits: what derivation and the expected costs use."""
        return {k: F.softmax(a, dim=-1) for k, a in self.alphas.items()}

    def numpy_probs(self) -> Dict[str, np.ndarray]:
        return {k: p.detach().cpu().numpy() for k, p in self.probs().items()}

    def entropy(self) -> float:
        """Mean entropy (nats) of the per-position distributions; log(#candidates) at the start."""
        total, count = 0.0, 0
        with torch.no_grad():
            probs = self.probs()
        for p in probs.values():
            total += float(-(p * torch.log(p.clamp_min(1e-12))).sum())
            count += p.shape[0]
        return total / max(count, 1)


def temperature(epoch: int, epochs: int, tau_max: float = 5.0, tau_min: float = 0.1) -> float:
    """Exponentially annealed Gumbel temperature, ``tau_max`` at the first epoch to ``tau_min`` at the last."""
    if epochs <= 1:
        return tau_min
    return tau_max * math.exp(math.log(tau_min / tau_max) * epoch / (epochs - 1))
