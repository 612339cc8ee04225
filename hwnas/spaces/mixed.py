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
are K times narrower, so their arithmetic and activations shrink K times; what a step costs on
a CPU is then mostly per call, which is why positions that read the same input can run as one
batched mixed operation (``edges``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.spaces.ops import BatchNorm2d, FactorizedReduce, build_op


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` equal blocks of channels (ShuffleNet's shuffle), in the input's
    memory layout (a channels-last input stays channels-last for the convolutions after it)."""
    n, c, h, w = x.shape
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        pixels = x.permute(0, 2, 3, 1)  # (N, H, W, C), contiguous
        return pixels.view(n, h, w, groups, c // groups).transpose(3, 4).reshape(n, h, w, c).permute(0, 3, 1, 2)
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class _SplitChannels(torch.autograd.Function):
    """Views of consecutive channel blocks whose backward joins the blocks' gradients into one
    tensor of the input's own layout. Slicing with ``x[:, a:b]`` instead makes each block's
    backward a zero-filled, contiguous (NCHW) tensor of the input's full size, which put the
    gradients of a channels-last network in the wrong layout and cost a full write per block."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: tuple) -> tuple:  # type: ignore[override]
        dense = x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)
        ctx.sizes, ctx.shape, ctx.stride = sizes, x.shape, x.stride() if dense else None
        return tuple(x.split(sizes, dim=1))

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> tuple:  # type: ignore[override]
        # (gradients arrive materialised: zeros for an unused block)
        if torch.is_grad_enabled() or ctx.stride is None:  # create_graph: a differentiable join
            return torch.cat(grads, dim=1), None
        full = torch.empty_strided(ctx.shape, ctx.stride, dtype=grads[0].dtype, device=grads[0].device)
        for block, grad in zip(full.split(ctx.sizes, dim=1), grads):
            block.copy_(grad)
        return full, None


def split_channels(x: torch.Tensor, sizes: Sequence[int]) -> tuple:
    """``x`` cut into consecutive channel blocks of ``sizes`` (views; see :class:`_SplitChannels`)."""
    if not x.requires_grad:
        return tuple(x.split(list(sizes), dim=1))
    return _SplitChannels.apply(x, tuple(sizes))


def _split_leading_relu(op: nn.Module) -> tuple[nn.Module, bool]:
    """(the op without its leading ReLU, whether it had one)."""
    if isinstance(op, nn.Sequential) and len(op) > 1 and isinstance(op[0], nn.ReLU):
        return op[1:], True
    if isinstance(op, FactorizedReduce):
        op.relu = nn.Identity()
        return op, True
    return op, False


class MixedOp(nn.Module):
    """The weighted sum of candidate operations at one position, or at ``edges`` positions that
    read the same input (a DARTS cell's edges out of one state).

    With ``edges=m`` a candidate with parameters is built as m side-by-side copies (grouped
    convolutions) run once on the input repeated m times; a candidate without parameters (a
    pooling, with DARTS' BatchNorm after it, a skip, ``none``) gives the same output on every
    one of those positions and runs once. Each position keeps its own weights and its own
    architecture weights, so the result equals m separate mixed operations, in fewer and wider
    calls; with partial channels that narrow the candidates, calls are what a step costs. A
    candidate runs for all m positions when any of them weighs it (one-hot rows save less).
    """

    def __init__(self, ops: Sequence[str], c_in: int, c_out: int, stride: int, affine: bool = False,
                 bn_after_pool: bool = False, partial: int = 1, edges: int = 1) -> None:
        super().__init__()
        if partial > 1 and (c_in != c_out or c_in % partial):
            raise ValueError(f"partial channels need as many channels out as in, divisible by {partial}; got {c_in} "
                             f"in, {c_out} out: choose --partial-channels dividing the proxy's channels")
        self.names = list(ops)
        self.partial, self.stride, self.edges = partial, stride, edges
        c_in, c_out = c_in // partial, c_out // partial
        candidates, relu_first, per_edge = [], [], []
        for name in ops:
            op = build_op(name, c_in, c_out, stride, affine=affine)
            has_weights = any(True for _ in op.parameters())
            if has_weights and edges > 1:
                op = build_op(name, c_in, c_out, stride, affine=affine, copies=edges)
            if bn_after_pool and "pool" in name:
                # DARTS normalises pooling outputs inside the supernet so their scale matches the convs'.
                op = nn.Sequential(op, BatchNorm2d(c_out * (edges if has_weights else 1), affine=False))
            op, has_relu = _split_leading_relu(op)
            candidates.append(op)
            relu_first.append(has_relu)
            per_edge.append(has_weights)
        self.candidates = nn.ModuleList(candidates)
        self.relu_first = relu_first
        self.per_edge = per_edge
        # With several positions the copies run first, so the sum (and its gradient) keeps their
        # channels-last layout; a shared output broadcast first would set another one.
        self.order = sorted(range(len(ops)), key=lambda i: edges > 1 and not per_edge[i])
        self.skip = [name == "none" for name in ops]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The output of a single position (``edges=1``): ``weights`` has one entry per candidate."""
        if self.edges != 1:
            raise TypeError(f"a mixed operation of {self.edges} positions runs with forward_edges")
        mixed, rest = self.forward_edges(x, weights[None])
        return self.join(mixed[0], rest)

    def join(self, mixed: torch.Tensor, rest: "torch.Tensor | None") -> torch.Tensor:
        """A position's output from its candidates' sum and the channels that bypassed them (a
        sum of positions' outputs is the join of the sums: both steps are linear)."""
        if rest is None:
            return mixed
        return channel_shuffle(torch.cat([mixed, rest], dim=1), self.partial)

    def forward_edges(self, x: torch.Tensor, weights: torch.Tensor) -> tuple[tuple, "torch.Tensor | None"]:
        """(the candidates' weighted sum at each position, a tuple of ``edges`` tensors (N, C/K, H, W);
        the channels that bypass the candidates, or None without partial channels).
        ``weights``: (edges, candidates)."""
        rest = None
        if self.partial > 1:
            k = x.shape[1] // self.partial
            x, rest = split_channels(x, (k, x.shape[1] - k))
            if self.stride > 1:  # ceil_mode: the candidates' "same" padding rounds odd sizes up too
                rest = F.max_pool2d(rest, self.stride, self.stride, ceil_mode=True)
        # A weight of exactly 0 on every position (a one-hot row, a candidate a progressive search
        # dropped) needs no computing: it contributes nothing, and its gradient is never used.
        nonzero = weights.detach() != 0
        active = nonzero.any(0).tolist()
        if self.edges > 1:  # a position's zero weights keep a zero gradient, as if it ran alone
            weights = weights * nonzero
        inputs: dict = {}

        def input_of(i: int) -> torch.Tensor:
            key = (self.per_edge[i] and self.edges > 1, self.relu_first[i])
            if key not in inputs:
                y = torch.cat([x] * self.edges, dim=1) if key[0] else x
                inputs[key] = F.relu(y) if key[1] else y
            return inputs[key]

        out = None
        for i in self.order:
            if self.skip[i] or not active[i]:
                continue
            y = self.candidates[i](input_of(i))
            if self.edges == 1:  # one position: a plain weighted sum
                term = weights[0, i] * y
            else:  # (N, edges, C/K, H, W): a copied candidate's output unflattened, a shared one broadcast
                y = y.unflatten(1, (self.edges, -1)) if self.per_edge[i] else y[:, None]
                term = y * weights[:, i].view(1, -1, 1, 1, 1).to(y.dtype)
            out = term if out is None else out + term
        if out is None:
            out = self._only_none(x, weights)
        elif self.edges > 1:
            out = out.flatten(1, 2)  # each position's channels together
        return (out,) if self.edges == 1 else split_channels(out, [out.shape[1] // self.edges] * self.edges), rest

    def _only_none(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Zeros of the output shape, still tied to the weights: every position chose ``none``."""
        zeros = self.candidates[self.skip.index(True)](x)
        return torch.cat([zeros] * self.edges, dim=1) * weights.sum()
