"""Zero-cost accuracy estimates: scores of an untrained network on one batch, which rank
architectures without training them (Mellor et al. 2021; Abdelfattah et al. 2021).

- ``naswot``: how differently the network's ReLUs partition the batch; the log-determinant of
  the kernel K[i, j] = number of ReLUs on which images i and j agree.
- ``synflow``: the sum of |weight * gradient| of a network with absolute weights, fed an input
  of ones (no data needed); computed in float64 with BatchNorm in eval mode.
- ``snip``: the sum of |weight * gradient| of the cross-entropy on the batch.
- ``grad_norm``: the sum of the gradients' L2 norms of the cross-entropy on the batch.

Higher scores predict higher accuracy. The estimator the Pareto stage minimises is the negated
score; ``scripts/bench_estimators.py`` measures how well each ranks NAS-Bench-201's cells.
"""

from __future__ import annotations

import copy
from typing import Callable, Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwnas.spaces import SearchSpace

Proxy = Callable[[nn.Module, Tensor, Tensor], float]
_WEIGHTED = (nn.Conv2d, nn.Linear)


def _logits(model: nn.Module, x: Tensor) -> Tensor:
    out = model(x)
    return out[0] if isinstance(out, tuple) else out


def naswot(model: nn.Module, x: Tensor, y: Tensor) -> float:
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def count(module: nn.Module, inputs, output: Tensor) -> None:
        codes = (output.detach().reshape(n, -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model.train()
            _logits(model, x)
    finally:
        for h in hooks:
            h.remove()
    # a small ridge keeps the score finite (very low) when images share every code: an
    # error of +inf would break the front's hypervolume; agreement counts are in the hundreds or more
    return float(torch.linalg.slogdet(kernel + 1e-3 * torch.eye(n, dtype=kernel.dtype))[1])


def synflow(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad()
    _logits(model, torch.ones((1, *x.shape[1:]), dtype=torch.float64)).sum().backward()
    return _weight_saliency(model)


def _weight_saliency(model: nn.Module) -> float:
    """The sum of |weight * gradient| over convolutions and linear layers."""
    with torch.no_grad():
        return float(sum((m.weight * m.weight.grad).abs().sum() for m in model.modules()
                         if isinstance(m, _WEIGHTED) and m.weight.grad is not None))


def _loss_backward(model: nn.Module, x: Tensor, y: Tensor) -> None:
    model.train()
    model.zero_grad()
    F.cross_entropy(_logits(model, x), y).backward()


def snip(model: nn.Module, x: Tensor, y: Tensor) -> float:
    _loss_backward(model, x, y)
    return _weight_saliency(model)


def grad_norm(model: nn.Module, x: Tensor, y: Tensor) -> float:
    _loss_backward(model, x, y)
    with torch.no_grad():
        return float(sum(p.grad.norm() for p in model.parameters() if p.grad is not None))


PROXIES: Dict[str, Proxy] = {"naswot": naswot, "synflow": synflow, "snip": snip, "grad_norm": grad_norm}


class ZeroCostEvaluator:
    """An error estimate for the Pareto stage: minus a zero-cost score of each genotype's
    network, freshly initialised from ``seed``, on one fixed batch. Cached by genotype."""

    def __init__(self, space: SearchSpace, proxy: str, batch: Tuple[Tensor, Tensor], seed: int = 0) -> None:
        if proxy not in PROXIES:
            raise ValueError(f"unknown zero-cost estimate {proxy!r}; choose one of {', '.join(PROXIES)}")
        self.space, self.proxy, self.seed = space, proxy, seed
        self.x, self.y = batch
        self.cache: Dict[tuple, float] = {}

    def score(self, x: np.ndarray) -> float:
        key = tuple(int(v) for v in x)
        if key not in self.cache:
            torch.manual_seed(self.seed)  # every genotype starts from the same random stream
            model = self.space.build(self.space.decode(np.asarray(x)))
            self.cache[key] = PROXIES[self.proxy](model, self.x, self.y)
        return self.cache[key]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Minus the score of each encoded genotype (rows of ``x``): lower is better."""
        return np.array([-self.score(row) for row in np.atleast_2d(x)])
