import json

import numpy as np
import pandas as pd

from hwnas.spaces.genotypes import NB201Genotype
from hwnas.pareto.nsga2 import run_nsga2
from hwnas.spaces import make_space

SPACE = make_space("nb201", init_channels=4, layers=1, input_size=8)


def test_finds_the_known_front_exactly(toy_objectives):
    result = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=400, seed=0)
    points = {tuple(p) for p in result.front[["f1", "f2"]].to_numpy().tolist()}
    assert points == {(float(k), float(8 - k)) for k in range(9)}


def test_offspring_are_valid_and_counted_once(toy_objectives):
    result = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=200, seed=1)
    vectors = np.array([list(map(int, v.split())) for v in result.evaluated["vector"]])
    lower, upper = SPACE.bounds
    assert np.all(vectors >= lower) and np.all(vectors <= upper)
    assert len({tuple(v) for v in vectors}) == len(vectors) >= 200
    for v, text in zip(vectors[:20], result.evaluated["genotype"][:20]):
        assert SPACE.decode(v).to_dict() == json.loads(text)
    assert (result.history["evaluations"].diff().dropna() >= 0).all()


def test_same_seed_same_front_and_seeding(toy_objectives):
    seed_vec = SPACE.encode(NB201Genotype.from_ops(["none"] * 6))
    a = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=100, seed=3, initial=[seed_vec])
    b = run_nsga2(SPACE, toy_objectives(), pop_size=20, evaluations=100, seed=3, initial=[seed_vec])
    pd.testing.assert_frame_equal(a.front, b.front)
    assert a.evaluated["vector"].iloc[0] == " ".join(map(str, seed_vec))


def test_constraints_exclude_infeasible_from_the_front(toy_objectives):
    objectives = toy_objectives()
    objectives.constraints["f1_at_most_4"] = lambda x: (x[:, 0] + x[:, 1]) - 4.0
    result = run_nsga2(SPACE, objectives, pop_size=20, evaluations=300, seed=0)
    assert result.front["f1"].max() <= 4


