"""Error estimates the Pareto stage ranks genotypes by, from a search run: the supernet's
inherited weights (``one-shot``) or a zero-cost score of each genotype's untrained network
(:mod:`hwnas.pareto.zero_cost`), on the run's own data.

``scripts/bench_estimators.py`` measures how well each ranks NAS-Bench-201's cells against their
true accuracy; the best measured is the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

from hwnas.pareto.objectives import DEFAULT_ESTIMATE, ESTIMATES
from hwnas.spaces import SearchSpace

ZERO_COST_BATCH = 64


def error_from_run(run_dir: str | Path, estimate: str = DEFAULT_ESTIMATE, val_images: int = 512, seed: int = 0,
                   needed: bool = True) -> Tuple[SearchSpace, Optional[Callable[[np.ndarray], np.ndarray]]]:
    """(the run's final space, an error estimate over encoded genotypes, or ``None`` where not
    ``needed``) of a search run. Zero-cost scores use the run's proxy network size and one batch
    of its training split."""
    from hwnas.core.data import load_splits, make_loader
    from hwnas.pareto.oneshot import OneShotEvaluator, load_search_supernet
    from hwnas.pareto.zero_cost import ZeroCostEvaluator
    from hwnas.search.setup import spaces_for

    if estimate not in ESTIMATES:
        raise ValueError(f"unknown --error-estimate {estimate!r}; choose one of {', '.join(ESTIMATES)}")
    proxy, supernet, cfg = load_search_supernet(run_dir)
    splits = load_splits(cfg.dataset, data_dir=cfg.data_dir, val_fraction=cfg.val_fraction, seed=cfg.seed,
                         limit=cfg.limit, image_size=cfg.image_size)
    info = splits.info
    _, final = spaces_for(cfg, info.input_size, info.in_channels, info.num_classes)
    if not needed:
        return final, None
    if estimate == "one-shot":
        return final, OneShotEvaluator(proxy, supernet, splits.train, splits.val, make_loader, val_images=val_images,
                                       seed=seed)
    batch = next(iter(make_loader(splits.train, ZERO_COST_BATCH, shuffle=True, seed=seed)))
    return final, ZeroCostEvaluator(proxy, estimate, batch, seed=seed)
