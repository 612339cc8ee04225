"""An accuracy predictor fitted on a few trained genotypes: a random forest over the one-hot
encoding of each searchable choice (which operation, which input) and the network's size (log
parameters and log FLOPs, from the space's cost structure). It needs genotypes trained by the
user (``hwnas train``) or a benchmark's table; ``scripts/bench_estimators.py`` measures how well
it ranks NAS-Bench-201 cells after fitting on a few of them."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional

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
        self.trained = (np.atleast_2d(np.asarray(x)), accuracy)
        return self

    def cross_validated(self) -> np.ndarray:
        """Each trained genotype's accuracy as predicted by a predictor fitted on the others
        (leave one out): what the predictor knows of genotypes it was not fitted on."""
        x, accuracy = self.trained
        others = [np.arange(len(accuracy)) != i for i in range(len(accuracy))]
        return np.array([AccuracyPredictor(self.space, self.trees, self.seed).fit(x[keep], accuracy[keep])
                         .predict(x[i:i + 1])[0] for i, keep in enumerate(others)])

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise ValueError("the predictor is not fitted: call fit() with trained genotypes first")
        return self._model.predict(self.features(x))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Predicted error (%) of each encoded genotype: lower is better."""
        return 100.0 - self.predict(x)


def predictor_quality(predictor: AccuracyPredictor, default: Callable[[np.ndarray], np.ndarray],
                      default_name: str) -> Dict[str, Any]:
    """How well the predictor ranks the genotypes it was fitted on when each is left out (Kendall
    tau of its leave-one-out predictions against their test accuracies), beside how well the
    ``default`` estimate (an error: lower is better) ranks the same genotypes. Three or more
    genotypes with different accuracies are needed; fewer give ``None``."""
    from scipy.stats import kendalltau

    x, accuracy = predictor.trained
    quality: Dict[str, Any] = {"trained": int(len(accuracy)), "kendall_tau_cv": None, "default_estimate": default_name,
                               "default_kendall_tau": None}
    if len(accuracy) >= 3 and np.ptp(accuracy) > 0:
        def tau(a: np.ndarray) -> Any:
            value = float(kendalltau(a, accuracy).statistic)
            return None if math.isnan(value) else value

        quality["kendall_tau_cv"] = tau(predictor.cross_validated())
        quality["default_kendall_tau"] = tau(-np.asarray(default(x)))
    return quality


def describe_quality(quality: Optional[Dict[str, Any]]) -> List[str]:
    """:func:`predictor_quality` as lines to show, with a warning where the default estimate
    ranks the user's genotypes better (none for no predictor)."""
    if quality is None:
        return []
    n, cv, default, name = (quality[k] for k in ("trained", "kendall_tau_cv", "default_kendall_tau",
                                                  "default_estimate"))
    if cv is None:
        return [f"predictor: fitted on {n} trained genotypes, too few (or too alike) to cross-validate; 3 or more "
                f"with different accuracies say how well it ranks"]
    lines = [f"predictor: Kendall tau {cv:.2f} between its leave-one-out predictions and the test accuracies of your "
             f"{n} trained genotypes; {name} ranks them with tau {'n/a' if default is None else f'{default:.2f}'}"]
    if default is not None and cv < default:
        lines.append(f"warning: the predictor ranks your trained genotypes worse than the default estimate ({name}); "
                     f"train more genotypes, or use --error-estimate {name}")
    return lines
