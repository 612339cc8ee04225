
import numpy as np
import pandas as pd

from hwnas.spaces.genotypes import NB201Genotype
from hwnas.spaces import make_space


def test_nb201_table_objectives(nb201_csv):
    from hwnas.pareto.nb201_bench import NB201Benchmark

    bench = NB201Benchmark(nb201_csv)
    df = pd.read_csv(nb201_csv).sample(20, random_state=0)
    space = make_space("nb201")
    x = np.stack([space.encode(NB201Genotype(a)) for a in df["arch_str"]])
    objectives = bench.objectives(["error", "latency_pixel3", "params"])
    np.testing.assert_allclose(objectives["error"](x), 100 - df["test_acc_cifar10"].to_numpy())
    np.testing.assert_allclose(objectives["latency_pixel3"](x), df["latency_ms_pixel3"].to_numpy())
    np.testing.assert_allclose(objectives["params"](x), df["params_cifar10"].to_numpy())
