"""The categorical mutation: a mutated variable takes another of its values, uniformly."""

import numpy as np
from pymoo.core.problem import Problem

from hwnas.pareto.mutation import ChoiceMutation
from hwnas.spaces import make_space


def problem_of(lower, upper):
    return Problem(n_var=len(lower), n_obj=1, xl=np.asarray(lower), xu=np.asarray(upper), vtype=int)


def test_mutated_variables_change_to_another_value_of_their_range():
    space = make_space("darts")
    lower, upper = space.bounds
    rng = np.random.default_rng(0)
    x = rng.integers(lower, upper + 1, size=(500, len(lower)))
    out = ChoiceMutation(prob_var=0.5)._do(problem_of(lower, upper), x, random_state=rng)
    assert np.all((out >= lower) & (out <= upper))
    changed = out != x
    fixed = upper == lower  # e.g. the first input of a DARTS node: one choice only
    assert not changed[:, fixed].any()
    assert 0.4 < changed[:, ~fixed].mean() < 0.6  # each variable with probability 0.5
    for row in out[:50]:
        space.decode(row)  # every mutated vector is a genotype


def test_other_values_are_equally_likely_and_order_plays_no_part():
    rng = np.random.default_rng(1)
    x = np.full((20000, 1), 2)
    out = ChoiceMutation(prob_var=1.0)._do(problem_of([0], [4]), x, random_state=rng)
    counts = np.bincount(out[:, 0], minlength=5)
    assert counts[2] == 0  # always another value
    shares = counts[[0, 1, 3, 4]] / len(out)
    assert np.all(np.abs(shares - 0.25) < 0.02)  # the far values 0 and 4 as likely as the near 1 and 3
