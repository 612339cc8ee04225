"""Gradients of the architecture: DARTS' second-order (unrolled) gradient, and the helpers
every architecture step needs when cells are recomputed (checkpointed) in the backward pass."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwnas.search.arch import Architecture

Loss = Callable[[torch.Tensor], torch.Tensor]  # cross-entropy -> penalised loss


def differentiate(net: nn.Module, loss: torch.Tensor,
                  inputs: Optional[List[torch.Tensor]] = None) -> Optional[Tuple[Optional[torch.Tensor], ...]]:
    """``loss.backward()`` (or the gradients of ``inputs``), undoing the second running-statistics
    update that recomputed (checkpointed) cells make during the backward pass."""
    stats = [b for name, b in net.named_buffers() if "running" in name] \
        if getattr(net, "checkpoint_cells", 0) else []
    kept = [b.clone() for b in stats]
    result = loss.backward() if inputs is None else torch.autograd.grad(loss, inputs, allow_unused=True)
    with torch.no_grad():
        for b, k in zip(stats, kept):
            b.copy_(k)
    return result


@contextmanager
def frozen_weights(net: nn.Module) -> Iterator[None]:
    """Weights that need no gradient: autograd skips theirs (a third of the backward pass)."""
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def unrolled_arch_grads(net: nn.Module, arch: Architecture, penalised: Loss, xi: float, weight_decay: float,
                        radius: float, xv: Tensor, yv: Tensor, xt: Tensor, yt: Tensor,
                        momentum: Optional[List[Optional[Tensor]]] = None) -> None:
    """Set ``arch``'s gradients to DARTS' unrolled gradient: grad_a L_val(w', a) - xi * H v,
    with H v by central differences and the virtual step the weight optimizer would take,
    w' = w - xi * (m * v + grad L_train(w) + wd * w), where ``momentum`` holds ``m * v`` per
    weight (SGD's momentum buffer scaled by its momentum; ``None`` before its first step).

    The virtual weights are written into the network in place (and restored), rather than
    passed functionally, so recomputed cells see them too.
    """
    params = list(net.parameters())
    alphas = list(arch.parameters())
    weights = {k: w.detach() for k, w in arch.weights("softmax").items()}
    grads = differentiate(net, F.cross_entropy(net(xt, weights), yt), params)
    original = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, g, m in zip(params, grads, momentum or [None] * len(params)):
                step = g + weight_decay * p
                p.sub_(xi * (step if m is None else step + m))
        val_loss = penalised(F.cross_entropy(net(xv, arch.weights("softmax")), yv))
        out = differentiate(net, val_loss, alphas + params)
    finally:
        with torch.no_grad():
            for p, o in zip(params, original):
                p.copy_(o)
    del original
    d_alpha, d_w = out[:len(alphas)], out[len(alphas):]
    d_w = [torch.zeros_like(p) if g is None else g for p, g in zip(params, d_w)]
    hessian = hessian_vector(net, arch, d_w, xt, yt, radius)
    for a, da, h in zip(alphas, d_alpha, hessian):
        a.grad = (torch.zeros_like(a) if da is None else da) - xi * h


def hessian_vector(net: nn.Module, arch: Architecture, vector: List[Tensor], x: Tensor, y: Tensor,
                   radius: float) -> List[Tensor]:
    """(grad_a L_train(w + eps v) - grad_a L_train(w - eps v)) / (2 eps), eps = radius / |v|.

    DARTS uses radius 0.01; the central difference is exact up to O(eps^2).
    """
    params = list(net.parameters())
    norm = torch.sqrt(sum((v * v).sum() for v in vector))
    eps = radius / max(float(norm), 1e-12)
    alphas = list(arch.parameters())

    def grad_alpha(sign: float) -> List[torch.Tensor]:
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.add_(sign * eps * v)
        weights: Dict[str, torch.Tensor] = arch.weights("softmax")
        with frozen_weights(net):
            return list(differentiate(net, F.cross_entropy(net(x, weights), y), alphas))

    plus = grad_alpha(+1.0)
    minus = grad_alpha(-2.0)
    with torch.no_grad():
        for p, v in zip(params, vector):
            p.add_(eps * v)
    return [(gp - gm) / (2 * eps) for gp, gm in zip(plus, minus)]
