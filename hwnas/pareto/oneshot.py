"""One-shot error estimates: a genotype inherits a trained supernet's weights.

For each genotype the supernet runs with one-hot architecture weights (so only the chosen
operations compute), its BatchNorm statistics are re-estimated on a few training batches,
and it is evaluated on a fixed held-out validation subset. Results are cached by genotype.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch
from torch import nn

from hwnas.spaces import SearchSpace


class OneShotEvaluator:
    def __init__(self, space: SearchSpace, supernet: nn.Module, train_set, val_set, make_loader,
                 bn_batches: int = 2, batch_size: int = 256, val_images: int = 512, seed: int = 0,
                 device: str = "cpu") -> None:
        self.space, self.net = space, supernet.to(device).eval()
        self.device = torch.device(device)
        gen = np.random.default_rng(seed)
        val_idx = gen.permutation(len(val_set))[:val_images]
        self.val = [(x.to(self.device), y.to(self.device)) for x, y in
                    make_loader(torch.utils.data.Subset(val_set, val_idx.tolist()), batch_size, shuffle=False)]
        calib = make_loader(train_set, batch_size, shuffle=True, seed=seed)
        self.calib = [x.to(self.device) for (x, _), _ in zip(calib, range(bn_batches))]
        self.bns = [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.cache: Dict[tuple, float] = {}

    @torch.no_grad()
    def error_of(self, x: np.ndarray) -> float:
        key = tuple(int(v) for v in x)
        if key not in self.cache:
            genotype = self.space.decode(np.asarray(x))
            weights = {k: torch.tensor(v, dtype=torch.float32, device=self.device)
                       for k, v in self.space.one_hot_weights(genotype).items()}
            momenta = [bn.momentum for bn in self.bns]
            for bn in self.bns:  # cumulative averages over the calibration batches
                bn.reset_running_stats()
                bn.momentum = None
            self.net.train()
            for batch in self.calib:
                self.net(batch, weights)
            for bn, m in zip(self.bns, momenta):
                bn.momentum = m
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
    from hwnas.spaces import space_from_config

    config = RunFolder(run_dir).read_config("search run")
    proxy = space_from_config(config["proxy"])
    ckpt = read_checkpoint(run_dir, device)
    net = proxy.supernet()
    net.load_state_dict(ckpt["supernet"])
    return proxy, net, SearchConfig.from_dict(config["search"])
