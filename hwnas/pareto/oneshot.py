"""One-shot error estimates: a genotype inherits a trained supernet's weights.

For each genotype the supernet runs with one-hot architecture weights (so only the chosen
operations compute), its BatchNorm statistics are re-estimated on a few training batches
(fvcore's precise BN: true population statistics, not running averages), and it is evaluated
on a fixed held-out validation subset. Results are cached by genotype.
"""

from __future__ import annotations

import logging
from typing import Dict

import numpy as np
import torch
from torch import nn

from hwnas.core.counting import fvcore_nn
from hwnas.spaces import SearchSpace

update_bn_stats = fvcore_nn().update_bn_stats

# fvcore logs each re-estimation at INFO: once per genotype, thousands of lines in a Pareto run
logging.getLogger("fvcore.nn.precise_bn").setLevel(logging.WARNING)


class _FixedArchitecture(nn.Module):
    """The supernet at one architecture, called with images alone (as fvcore calls a model)."""

    def __init__(self, net: nn.Module, weights: Dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.net, self.weights = net, weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.weights)


class OneShotEvaluator:
    def __init__(self, space: SearchSpace, supernet: nn.Module, train_set, val_set, make_loader,
                 bn_batches: int = 2, batch_size: int = 256, val_images: int = 512, seed: int = 0,
                 device: str = "cpu") -> None:
        if bn_batches < 1:
            raise ValueError(f"BatchNorm re-estimation needs at least one training batch, got bn_batches={bn_batches}")
        self.space, self.net = space, supernet.to(device).eval()
        self.device = torch.device(device)
        gen = np.random.default_rng(seed)
        val_idx = gen.permutation(len(val_set))[:val_images]
        self.val = [(x.to(self.device), y.to(self.device)) for x, y in
                    make_loader(torch.utils.data.Subset(val_set, val_idx.tolist()), batch_size, shuffle=False)]
        calib = make_loader(train_set, batch_size, shuffle=True, seed=seed)
        self.calib = [x.to(self.device) for (x, _), _ in zip(calib, range(bn_batches))]
        self.cache: Dict[tuple, float] = {}

    @torch.no_grad()
    def error_of(self, x: np.ndarray) -> float:
        key = tuple(int(v) for v in x)
        if key not in self.cache:
            genotype = self.space.decode(np.asarray(x))
            weights = {k: torch.tensor(v, dtype=torch.float32, device=self.device)
                       for k, v in self.space.one_hot_weights(genotype).items()}
            self.net.train()  # BatchNorm layers must be in training mode to be re-estimated
            update_bn_stats(_FixedArchitecture(self.net, weights), self.calib, num_iters=len(self.calib))
            self.net.eval()
            correct = total = 0
            for xb, yb in self.val:
                correct += int((self.net(xb, weights).argmax(1) == yb).sum())
                total += len(yb)
            self.cache[key] = 100.0 * (1.0 - correct / max(total, 1))
        return self.cache[key]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Validation error (%) of each encoded genotype (rows of ``x``)."""
        return np.array([self.error_of(row) for row in np.atleast_2d(x)])


def load_search_supernet(run_dir, device: str = "cpu"):
    """(proxy space, supernet with trained weights, search config) of a search run directory."""
    from hwnas.runs import RunFolder
    from hwnas.search.config import SearchConfig
    from hwnas.search.searcher import read_checkpoint
    from hwnas.search.stages import proxy_at
    from hwnas.spaces import space_from_config

    config = RunFolder(run_dir).read_config("search run")
    cfg = SearchConfig.from_dict(config["search"])
    ckpt = read_checkpoint(run_dir, device)
    # the proxy the checkpoint's weights belong to: deepened by the progressive stages already ended
    proxy = proxy_at(space_from_config(config["proxy"]), cfg.progressive, ckpt["epoch"])
    net = proxy.supernet(**cfg.supernet_options())
    net.load_state_dict(ckpt["supernet"])
    return proxy, net, cfg
