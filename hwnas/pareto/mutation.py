"""A categorical mutation for genotype vectors: each variable is a choice (an operation, an
input), not an ordered number, so a mutated variable takes another of its values uniformly.

Every value inside the space's bounds is a valid choice, so a mutated genotype stays valid.
"""

from __future__ import annotations

import numpy as np
from pymoo.core.mutation import Mutation


class ChoiceMutation(Mutation):
    """Change each variable with probability ``prob_var`` (default: 1 / number of variables) to
    a different value of its range."""

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        X = np.asarray(X, dtype=np.int64).copy()
        lower = np.asarray(problem.xl, dtype=np.int64)
        upper = np.asarray(problem.xu, dtype=np.int64)
        n, n_var = X.shape
        prob_var = np.asarray(self.get_prob_var(problem, size=n), dtype=float).reshape(n, 1)
        change = random_state.random((n, n_var)) < prob_var
        change &= upper > lower  # a variable with one value has no other
        rows, cols = np.nonzero(change)
        # uniform over the other values: draw from range size - 1 and skip the current one
        offset = random_state.integers(0, upper[cols] - lower[cols])
        new = lower[cols] + offset
        new = np.where(new >= X[rows, cols], new + 1, new)
        X[rows, cols] = new
        return X
