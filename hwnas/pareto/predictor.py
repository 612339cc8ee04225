"""An accuracy predictor fitted on a few trained genotypes: a random forest over the one-hot
encoding of each searchable choice (which operation, which input) and the network's size (log
parameters and log FLOPs, from the space's cost structure). It needs genotypes trained by the
user (``hwnas train``) or a benchmark's table; ``scripts/bench_estimators.py`` measures how well
it ranks NAS-Bench-201 cells after fitting on a few of them."""

from __future__ import annotations

import numpy as np

from hwnas.spaces import SearchSpace


class AccuracyPredictor:
    """Predicted accuracy (%) of encoded genotypes; as an estimate to minimise, 100 minus it."""

    def __init__(self, space: SearchSpace, trees: int = 300, seed: int = 0) -> None:
        self.space, self.trees, self.seed = space, trees, seed
        lower, upper = space.bounds
        self._offsets = np.concatenate([[0], np.cumsum(upper - lower + 1)])
        self._model = None

    def features(self, x: np.ndarray) -> np.ndarray:
        """One column per (position, value), 1 where the genotype makes that choice; then log
        parameters and log FLOPs of its network (size predicts accuracy well on its own)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.int64))
        choices = np.zeros((len(x), int(self._offsets[-1])))
        choices[np.arange(len(x))[:, None], self._offsets[:-1] + x - self.space.bounds[0]] = 1.0
        size = np.log1p(np.stack([self.space.params.many(x), self.space.flops.many(x)], axis=1))
        return np.hstack([choices, size])

    def fit(self, x: np.ndarray, accuracy: np.ndarray) -> "AccuracyPredictor":
        from sklearn.ensemble import RandomForestRegressor

        accuracy = np.asarray(accuracy, dtype=float)
        if len(accuracy) < 2 or len(accuracy) != len(np.atleast_2d(x)):
            raise ValueError(f"fitting needs two or more genotypes with one accuracy each, got {len(accuracy)}")
        self._model = RandomForestRegressor(self.trees, min_samples_leaf=2, random_state=self.seed)
        self._model.fit(self.features(x), accuracy)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise ValueError("the predictor is not fitted: call fit() with trained genotypes first")
        return self._model.predict(self.features(x))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Predicted error (%) of each encoded genotype: lower is better."""
        return 100.0 - self.predict(x)
