"""The NAS-Bench-201 table as vectorised objectives for the ``nb201`` space.

Reads the benchmark CSV (one row per cell: test accuracies, device latencies from HW-NAS-Bench,
parameter counts, FLOPs) and answers any batch of encoded genotypes by array lookup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict

import numpy as np

from hwnas.spaces.genotypes import NB201_EDGES, NB201Genotype

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "nb201" / "nb201.csv"
DEVICES = ("fpga", "raspi4", "eyeriss", "pixel3")
DATASETS = ("cifar10", "cifar100", "imagenet16_120")


# What each kind of column may hold (by name prefix): low, high, and how to say it.
COLUMN_RANGES = {
    "test_acc_": (0.0, 100.0, "an accuracy is a percentage from 0 to 100"),
    "latency_ms_": (0.0, np.inf, "a latency is a finite number of ms, at least 0"),
    "params_": (0.0, np.inf, "a parameter count is at least 0"),
    "mflops_": (0.0, np.inf, "a FLOP count is at least 0"),
}


class NB201Benchmark:
    """Columns of the benchmark indexed by the integer code of an encoded genotype."""

    def __init__(self, path: str | Path = DEFAULT_PATH, ops=None) -> None:
        from hwnas.spaces.genotypes import NB201_OPS

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"NAS-Bench-201 table {path} not found; pass --benchmark-file PATH (the CSV with "
                                    f"arch_str, test_acc_cifar10, latency_ms_<device>, params_<dataset> columns)")
        import pandas as pd  # here: the command line lists the benchmark's devices without pandas

        self.path = path
        try:
            self.frame = pd.read_csv(path)
        except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:  # EmptyDataError too
            raise ValueError(f"{path} cannot be read as a CSV table ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'no details'}): not a NAS-Bench-201 table"
                             ) from None
        if "arch_str" not in self.frame.columns:
            raise ValueError(f"{path} has no arch_str column: not a NAS-Bench-201 table")
        self.ops = tuple(ops or NB201_OPS)
        self.n = len(NB201_EDGES)
        codes = []
        for row, arch in enumerate(self.frame["arch_str"]):
            try:
                codes.append(self.code(np.array([self.ops.index(op) for op in NB201Genotype(str(arch)).ops])))
            except (ValueError, TypeError) as exc:  # GenotypeError is a ValueError
                raise ValueError(f"{path}, row {row + 1}: arch_str {str(arch)[:60]!r} is not a NAS-Bench-201 cell "
                                 f"({exc})") from None
        codes = np.array(codes)
        if len(set(codes.tolist())) != len(codes) or len(codes) != len(self.ops) ** self.n:
            raise ValueError(f"{path} does not hold each of the {len(self.ops) ** self.n} cells exactly once")
        self._row_of_code = np.empty(len(codes), dtype=np.int64)
        self._row_of_code[codes] = np.arange(len(codes))

    def code(self, x: np.ndarray) -> np.ndarray:
        """Base-5 integer code of encoded genotypes (rows of ``x``)."""
        x = np.asarray(x)
        return x @ (len(self.ops) ** np.arange(self.n - 1, -1, -1))

    def column(self, name: str) -> np.ndarray:
        """A column in code order, checked to hold finite numbers in the range its kind allows."""
        import pandas as pd

        if name not in self.frame.columns:
            raise ValueError(f"the NAS-Bench-201 table has no column {name!r}; columns: {', '.join(self.frame.columns)}")
        values = pd.to_numeric(self.frame[name], errors="coerce").to_numpy(dtype=float)
        low, high, what = next((r for prefix, r in COLUMN_RANGES.items() if name.startswith(prefix)),
                               (-np.inf, np.inf, "a number"))
        bad = np.flatnonzero(~np.isfinite(values) | (values < low) | (values > high))
        if bad.size:
            row = int(bad[0])
            raise ValueError(f"{self.path}, row {row + 1}: {name} is {self.frame[name].iloc[row]!r}, but {what}; "
                             f"{bad.size} row(s) like it: the file is damaged or not a NAS-Bench-201 table")
        return values[self._row_of_code]

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
