"""Error estimates the Pareto stage ranks genotypes by, from a search run: the supernet's
inherited weights (``one-shot``) or a zero-cost score of each genotype's untrained network
(:mod:`hwnas.pareto.zero_cost`), on the run's own data, or an accuracy predictor fitted on
genotypes trained with ``hwnas train`` (:mod:`hwnas.pareto.predictor`).

``scripts/bench_estimators.py`` measures how well each ranks NAS-Bench-201's cells against their
true accuracy; the best measured is the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from hwnas.pareto.objectives import DEFAULT_ESTIMATE, ESTIMATES
from hwnas.spaces import SearchSpace

ZERO_COST_BATCH = 64


def error_from_run(run_dir: str | Path, estimate: str = DEFAULT_ESTIMATE, val_images: int = 512, seed: int = 0,
                   needed: bool = True, trained: Sequence[str | Path] = ()
                   ) -> Tuple[SearchSpace, Optional[Callable[[np.ndarray], np.ndarray]]]:
    """(the run's final space, an error estimate over encoded genotypes, or ``None`` where not
    ``needed``) of a search run. Zero-cost scores use the run's proxy network size and one batch
    of its training split; the predictor is fitted on the ``trained`` run folders."""
    from hwnas.core.data import load_splits, make_loader
    from hwnas.pareto.oneshot import OneShotEvaluator, load_search_supernet
    from hwnas.pareto.zero_cost import ZeroCostEvaluator
    from hwnas.search.setup import spaces_for

    if estimate not in ESTIMATES:
        raise ValueError(f"unknown --error-estimate {estimate!r}; choose one of {', '.join(ESTIMATES)}")
    if needed and estimate == "predictor" and len(trained) < 2:
        raise ValueError("--error-estimate predictor is fitted on genotypes you trained: give two or more training "
                         "run folders (hwnas train ... --name NAME) with --trained runs/NAME ...")
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
    if estimate == "predictor":  # with its quality on the user's genotypes, beside the default estimate's
        from hwnas.pareto.predictor import predictor_quality

        predictor = fit_predictor(final, trained, seed=seed)
        default = ZeroCostEvaluator(proxy, DEFAULT_ESTIMATE, batch, seed=seed)
        predictor.quality = predictor_quality(predictor, default, DEFAULT_ESTIMATE)
        return final, predictor
    return final, ZeroCostEvaluator(proxy, estimate, batch, seed=seed)


def fit_predictor(space: SearchSpace, trained: Sequence[str | Path], seed: int = 0):
    """An :class:`~hwnas.pareto.predictor.AccuracyPredictor` fitted on finished training runs:
    each one's genotype (``config.json``) and test accuracy (``result.json``)."""
    import json

    from hwnas.spaces.genotypes import genotype_from_dict
    from hwnas.pareto.predictor import AccuracyPredictor
    from hwnas.runs import RunFolder

    vectors, accuracies = [], []
    for run in trained:
        config = RunFolder(run).read_config("training run")
        result = Path(run) / "result.json"
        if "genotype" not in config or not result.is_file():
            raise ValueError(f"{run} is not a finished training run (it needs config.json with a genotype and "
                             f"result.json): train with hwnas train first")
        genotype = genotype_from_dict(config["genotype"])
        if genotype.space != space.name:
            raise ValueError(f"{run} trained a {genotype.space} genotype; the search run is of space {space.name}")
        vectors.append(space.encode(genotype))
        accuracies.append(100.0 * float(json.loads(result.read_text())["test_acc"]))
    return AccuracyPredictor(space, seed=seed).fit(np.array(vectors), np.array(accuracies))
