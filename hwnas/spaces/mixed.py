"""Mixed operations: every candidate of one searchable position, weighted by the architecture.

A supernet holds no architecture state: the weights of each position's candidates are passed
into ``forward``. Soft weights (softmax, soft Gumbel) run every candidate with a non-zero
weight; a one-hot row (GDAS' hard Gumbel sample, or a fixed genotype) runs only the chosen
candidate, which makes those steps cheap. ``none`` contributes nothing and is never run: its
output and its gradient with respect to its weight are both zero.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from hwnas.ops import build_op


class MixedOp(nn.Module):
    """The weighted sum of candidate operations at one position."""

    def __init__(self, ops: Sequence[str], c_in: int, c_out: int, stride: int, affine: bool = False,
                 bn_after_pool: bool = False) -> None:
        super().__init__()
        self.names = list(ops)
        candidates = []
        for name in ops:
            op = build_op(name, c_in, c_out, stride, affine=affine)
            if bn_after_pool and "pool" in name:
                # DARTS normalises pooling outputs inside the supernet so their scale matches the convs'.
                op = nn.Sequential(op, nn.BatchNorm2d(c_out, affine=False))
            candidates.append(op)
        self.candidates = nn.ModuleList(candidates)
        self.skip = [name == "none" for name in ops]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        hard = _is_one_hot(weights)
        out = None
        for i, op in enumerate(self.candidates):
            if self.skip[i] or (hard and not bool(weights[i].detach() != 0)):
                continue
            term = weights[i] * op(x)
            out = term if out is None else out + term
        if out is None:  # only `none` selected: zeros of the output shape (still tied to the weights)
            out = self.candidates[self.skip.index(True)](x) * weights.sum()
        return out


def _is_one_hot(weights: torch.Tensor) -> bool:
    """True for a straight-through one-hot row: exactly one non-zero entry."""
    return int((weights.detach() != 0).sum()) == 1
