"""The NAS-Bench-201 table as vectorised objectives for the ``nb201`` space.

Reads the benchmark CSV (one row per cell: test accuracies, device latencies from HW-NAS-Bench,
parameter counts, FLOPs) and answers any batch of encoded genotypes by array lookup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict

import numpy as np

from hwnas.core.genotype import NB201_EDGES, NB201Genotype

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "nb201" / "nb201.csv"
DEVICES = ("fpga", "raspi4", "eyeriss", "pixel3")
DATASETS = ("cifar10", "cifar100", "imagenet16_120")


class NB201Benchmark:
    """Columns of the benchmark indexed by the integer code of an encoded genotype."""

    def __init__(self, path: str | Path = DEFAULT_PATH, ops=None) -> None:
        from hwnas.core.genotype import NB201_OPS

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"NAS-Bench-201 table {path} not found; pass --benchmark-file PATH (the CSV with "
                                    f"arch_str, test_acc_cifar10, latency_ms_<device>, params_<dataset> columns)")
        import pandas as pd  # here: the command line lists the benchmark's devices without pandas

        self.frame = pd.read_csv(path)
        if "arch_str" not in self.frame.columns:
            raise ValueError(f"{path} has no arch_str column: not a NAS-Bench-201 table")
        self.ops = tuple(ops or NB201_OPS)
        self.n = len(NB201_EDGES)
        codes = np.array([self.code(np.array([self.ops.index(op) for op in NB201Genotype(a).ops]))
                          for a in self.frame["arch_str"]])
        if len(set(codes.tolist())) != len(codes) or len(codes) != len(self.ops) ** self.n:
            raise ValueError(f"{path} does not hold each of the {len(self.ops) ** self.n} cells exactly once")
        self._row_of_code = np.empty(len(codes), dtype=np.int64)
        self._row_of_code[codes] = np.arange(len(codes))

    def code(self, x: np.ndarray) -> np.ndarray:
        """Base-5 integer code of encoded genotypes (rows of ``x``)."""
        x = np.asarray(x)
        return x @ (len(self.ops) ** np.arange(self.n - 1, -1, -1))

    def column(self, name: str) -> np.ndarray:
        if name not in self.frame.columns:
            raise ValueError(f"the NAS-Bench-201 table has no column {name!r}; columns: {', '.join(self.frame.columns)}")
        return self.frame[name].to_numpy()[self._row_of_code]

    def objective(self, name: str, transform: Callable[[np.ndarray], np.ndarray] = lambda v: v):
        values = transform(self.column(name).astype(float))
        return lambda x: values[self.code(np.atleast_2d(x))]

    def error(self, dataset: str = "cifar10"):
        """Test error (%) after 200 epochs, the benchmark's mean over seeds."""
        return self.objective(f"test_acc_{dataset}", lambda acc: 100.0 - acc)

    def all_vectors(self) -> np.ndarray:
        """Every encoded genotype of the space, in code order."""
        codes = np.arange(len(self.ops) ** self.n)
        return np.stack([(codes // len(self.ops) ** p) % len(self.ops) for p in range(self.n - 1, -1, -1)], axis=1)

    def objectives(self, names, dataset: str = "cifar10") -> Dict[str, Callable]:
        out = {}
        for name in names:
            if name == "error":
                out[name] = self.error(dataset)
            elif name == "params":
                out[name] = self.objective(f"params_{dataset}")
            elif name == "flops":
                out[name] = self.objective(f"mflops_{dataset}", lambda v: v * 1e6)
            elif name.startswith("latency_") and name[len("latency_"):] in DEVICES:
                out[name] = self.objective(f"latency_ms_{name[len('latency_'):]}")
        return out
