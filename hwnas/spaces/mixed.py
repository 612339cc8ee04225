"""Mixed operations: every candidate of one searchable position, weighted by the architecture.

A supernet holds no architecture state: the weights of each position's candidates are passed
into ``forward``. Soft weights (softmax, soft Gumbel) run every candidate with a non-zero
weight; a one-hot row (GDAS' hard Gumbel sample, or a fixed genotype) runs only the chosen
candidate, which makes those steps cheap. ``none`` contributes nothing and is never run: its
output and its gradient with respect to its weight are both zero.

Candidates that begin with a ReLU (DARTS' and NAS-Bench-201's convolutions, factorized
reduce) share one ReLU of the input instead of computing and storing it once each: the same
mathematics with less memory and time.

Partial channels (PC-DARTS, Xu et al. 2020): with ``partial=K`` only the first 1/K of the
channels go through the candidates; the rest bypass them (max-pooled where the position
reduces), and a channel shuffle mixes the two so each step sees other channels. The candidates
are K times narrower: a search step costs about 1/K of the time and memory.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.core.ops import BatchNorm2d, FactorizedReduce, build_op


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` equal blocks of channels (ShuffleNet's shuffle)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _split_leading_relu(op: nn.Module) -> tuple[nn.Module, bool]:
    """(the op without its leading ReLU, whether it had one)."""
    if isinstance(op, nn.Sequential) and len(op) > 1 and isinstance(op[0], nn.ReLU):
        return op[1:], True
    if isinstance(op, FactorizedReduce):
        op.relu = nn.Identity()
        return op, True
    return op, False


class MixedOp(nn.Module):
    """The weighted sum of candidate operations at one position."""

    def __init__(self, ops: Sequence[str], c_in: int, c_out: int, stride: int, affine: bool = False,
                 bn_after_pool: bool = False, partial: int = 1) -> None:
        super().__init__()
        if partial > 1 and (c_in != c_out or c_in % partial):
            raise ValueError(f"partial channels need as many channels out as in, divisible by {partial}; got {c_in} "
                             f"in, {c_out} out: choose --partial-channels dividing the proxy's channels")
        self.names = list(ops)
        self.partial, self.stride = partial, stride
        c_in, c_out = c_in // partial, c_out // partial
        candidates, relu_first = [], []
        for name in ops:
            op = build_op(name, c_in, c_out, stride, affine=affine)
            if bn_after_pool and "pool" in name:
                # DARTS normalises pooling outputs inside the supernet so their scale matches the convs'.
                op = nn.Sequential(op, BatchNorm2d(c_out, affine=False))
            op, has_relu = _split_leading_relu(op)
            candidates.append(op)
            relu_first.append(has_relu)
        self.candidates = nn.ModuleList(candidates)
        self.relu_first = relu_first
        self.skip = [name == "none" for name in ops]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.partial == 1:
            return self._mixed(x, weights)
        k = x.shape[1] // self.partial
        rest = x[:, k:]
        if self.stride > 1:  # ceil_mode: the candidates' "same" padding rounds odd sizes up too
            rest = F.max_pool2d(rest, self.stride, self.stride, ceil_mode=True)
        return channel_shuffle(torch.cat([self._mixed(x[:, :k], weights), rest], dim=1), self.partial)

    def _mixed(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        # A weight of exactly 0 (a one-hot row, a candidate a progressive search dropped) needs no
        # computing: it contributes nothing, and its gradient is never used.
        active = (weights.detach() != 0).tolist()
        relu_x = None
        out = None
        for i, op in enumerate(self.candidates):
            if self.skip[i] or not active[i]:
                continue
            if self.relu_first[i]:
                if relu_x is None:
                    relu_x = F.relu(x)
                term = weights[i] * op(relu_x)
            else:
                term = weights[i] * op(x)
            out = term if out is None else out + term
        if out is None:  # only `none` selected: zeros of the output shape (still tied to the weights)
            out = self.candidates[self.skip.index(True)](x) * weights.sum()
        return out
