"""Error estimates evaluated on Ray workers (``hwnas pareto --workers N [--ray-address ADDR]``).

Each worker is a Ray actor that builds the estimate once, from the search run (so a one-shot
estimate loads the supernet once per worker), and then scores the genotypes it is sent. A
generation's new genotypes are split into one contiguous chunk per worker and put back in
order, so the front is the serial run's: every genotype's estimate depends on the genotype and
the seed alone. Each worker computes with one thread, so the front equals a serial run's in a
process limited to one thread; PyTorch's results can differ in the last bits between thread
counts.

Latency tables and parameter counts are looked up on the driver: they cost microseconds, and
latency is never *measured* on workers that share a machine with other work (it would be
slowed by it); tables come from ``hwnas profile``, run alone.

Ray is an optional extra: ``pip install 'hwnas[ray]'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

RAY_MISSING = "--workers needs Ray, an optional extra: pip install 'hwnas[ray]' (or pip install ray)"


class MissingExtraError(ValueError):
    """An optional extra this feature needs is not installed (the message says what to install)."""


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError(RAY_MISSING) from None
    return ray


@dataclass(frozen=True)
class EstimateRecipe:
    """What a worker needs to build the error estimate of a search run for itself."""

    run_dir: str
    estimate: str
    val_images: int
    seed: int
    trained: Tuple[str, ...] = ()  # training runs the predictor is fitted on

    def build(self):
        from hwnas.pareto.estimates import error_from_run

        return error_from_run(self.run_dir, self.estimate, val_images=self.val_images, seed=self.seed,
                              trained=self.trained)[1]


class _Worker:
    def __init__(self, recipe: EstimateRecipe) -> None:
        import torch

        torch.set_num_threads(1)  # one core per worker
        self.evaluate = recipe.build()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.evaluate(x)


class RayEvaluator:
    """An error estimate over encoded genotypes, computed by ``workers`` Ray actors."""

    def __init__(self, recipe: EstimateRecipe, workers: int, address: Optional[str] = None) -> None:
        if workers < 1:
            raise ValueError(f"--workers must be 1 or more, got {workers}")
        ray = require_ray()
        self.ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            # an existing cluster (--ray-address) or a local one sized to the workers
            options = {"address": address} if address else {"num_cpus": workers}
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **options)
        actor = ray.remote(num_cpus=1)(_Worker)
        recipe = EstimateRecipe(str(Path(recipe.run_dir).resolve()), recipe.estimate, recipe.val_images, recipe.seed,
                                tuple(str(Path(t).resolve()) for t in recipe.trained))
        self.actors = [actor.remote(recipe) for _ in range(workers)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        chunks: List[np.ndarray] = [c for c in np.array_split(x, len(self.actors)) if len(c)]
        parts = self.ray.get([actor.__call__.remote(chunk) for actor, chunk in zip(self.actors, chunks)])
        return np.concatenate(parts)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._started:
            self.ray.shutdown()
