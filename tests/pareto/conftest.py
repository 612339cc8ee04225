import pytest

from hwnas.pareto.objectives import Objectives


@pytest.fixture
def toy_objectives():
    """Makes a tabular toy with a known front: f1 + f2 = 8 exactly when edges 2..5 are `none`
    (a fresh one per call: tests add constraints and objectives to it)."""
    def make() -> Objectives:
        def f1(x):
            return (x[:, 0] + x[:, 1]).astype(float)

        def f2(x):
            return (8 - x[:, 0] - x[:, 1]) + 10.0 * (x[:, 2:] != 0).sum(axis=1)

        return Objectives({"f1": f1, "f2": f2})

    return make
