"""Timing ONNX graphs in ONNX Runtime the honest way: warm-up, interleaved rounds, the quiet device's statistic.

One graph is one piece of a network (a latency-table row) or a whole network; both are timed
the same way, here or on a target through the agent, so that the table's sum can be checked
against the network. Needs only NumPy and ONNX Runtime (this module travels to targets).
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .load import Load

Shape = Tuple[int, ...]


# Statistics a timing can be summarised by. Interference from other processes only adds time
# and a deployed network runs on its device alone, so the latency hwnas predicts and checks is
# that of the quiet device: the 10th percentile (see the docs, "How the table is measured").
STATISTICS: Dict[str, Callable[[Sequence[float]], float]] = {
    "min": lambda s: float(np.min(s)),
    "p10": lambda s: float(np.percentile(s, 10)),
    "median": lambda s: float(np.median(s)),
}
LATENCY_STATISTIC = "p10"


@dataclass(frozen=True)
class Timing:
    """Summary of the timed runs, in milliseconds; :attr:`latency_ms` is the headline number."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    repeats: int
    min_ms: float = float("nan")

    @property
    def latency_ms(self) -> float:
        """The latency of the quiet device: the statistic named by :data:`LATENCY_STATISTIC`."""
        return getattr(self, f"{LATENCY_STATISTIC}_ms")

    def to_dict(self) -> Dict[str, float]:
        return asdict(self)

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> "Timing":
        s = np.asarray(samples_ms, dtype=float)
        if s.size == 0:
            raise ValueError("no timing samples: time at least one run")
        return cls(float(np.median(s)), float(np.percentile(s, 10)), float(np.percentile(s, 90)), float(s.mean()),
                   float(s.std()), int(s.size), float(s.min()))


def bound_runner(session: Any, feeds: Dict[str, np.ndarray], device_type: str, device_id: int) -> Callable[[], None]:
    """A zero-argument runner of ``session`` on ``feeds``, run as an application runs it.

    On the CPU that is plain ``session.run``: its per-run cost (the feeds' dictionary, the
    outputs allocated and returned as NumPy arrays) is part of what a deployed network pays. It
    cancels out of pieces timed in context, whose baseline pays it too. On a device with its own
    memory, inputs and outputs are pre-bound there (IOBinding), which keeps host-device copies,
    which an application arranges in its own way, out of the timings.
    """
    import onnxruntime as ort

    outputs = session.run(None, feeds)  # also the first warm-up run; off the CPU, the outputs' shapes
    if device_type == "cpu":
        def run_plain() -> None:
            session.run(None, feeds)

        return run_plain
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, device_type, device_id))
    for meta, value in zip(session.get_outputs(), outputs):
        binding.bind_ortvalue_output(meta.name, ort.OrtValue.ortvalue_from_numpy(value, device_type, device_id))

    def run() -> None:
        session.run_with_iobinding(binding)

    return run


def _timed_runs(run: Callable[[], None], n: int, into: List[float]) -> None:
    for _ in range(n):
        t0 = time.perf_counter_ns()
        run()
        into.append((time.perf_counter_ns() - t0) / 1e6)


@dataclass(frozen=True)
class Interleaved:
    """Timings of several graphs measured in interleaved rounds, and of each half of the rounds.

    The halves (even and odd rounds) are two measurements of the same graph taken side by side:
    how far they disagree is the noise a prediction cannot beat.
    """

    timings: List[Timing]
    halves: List[Tuple[Timing, Timing]]
    load: Optional[Load] = None  # other processes' use of the machine meanwhile

    def remeasure_diff(self) -> np.ndarray:
        """|first half / second half - 1| of each graph's latency statistic."""
        return np.array([abs(a.latency_ms / b.latency_ms - 1) for a, b in self.halves])

    def to_dict(self) -> Dict[str, Any]:
        return {"timings": [t.to_dict() for t in self.timings],
                "halves": [[a.to_dict(), b.to_dict()] for a, b in self.halves], "load": self.load.to_dict() if self.load else None}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Interleaved":
        return cls([Timing(**t) for t in d["timings"]], [(Timing(**a), Timing(**b)) for a, b in d["halves"]],
                   Load.from_dict(d["load"]) if d.get("load") else None)


def time_interleaved(runs: Sequence[Callable[[], None]], repeats: int = 40, rounds: int = 4, warmup: int = 3,
                     progress: Optional[Callable[[int, int], None]] = None) -> Interleaved:
    """Time several graphs round-robin: each round runs every graph ``repeats / rounds`` times.

    A machine whose speed drifts (another process starts, the clock changes) then slows every
    graph alike instead of biasing the ones measured at the wrong moment.
    """
    if rounds < 2 or repeats < rounds:
        raise ValueError(f"interleaved timing needs at least 2 rounds and one run per round; got {rounds} rounds "
                         f"for {repeats} repeats")
    per_round = repeats // rounds
    samples: List[List[List[float]]] = [[[] for _ in range(rounds)] for _ in runs]
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed run is noise, not latency
    try:
        for r in range(rounds):
            for i, run in enumerate(runs):
                for _ in range(warmup if r == 0 else 1):  # caches filled by the graphs before it
                    run()
                _timed_runs(run, per_round, samples[i][r])
            if progress:
                progress(r + 1, rounds)
    finally:
        if gc_was_enabled:
            gc.enable()
    timings = [Timing.from_samples([t for chunk in per for t in chunk]) for per in samples]
    halves = [(Timing.from_samples([t for chunk in per[0::2] for t in chunk]),
               Timing.from_samples([t for chunk in per[1::2] for t in chunk])) for per in samples]
    return Interleaved(timings, halves)


def random_feeds(session: Any, shapes: Sequence[Shape], seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded standard-normal inputs, one per session input, in order: float32, or float16 where
    the model takes fp16 (a model converted for an fp16 device)."""
    inputs = session.get_inputs()
    if len(inputs) != len(shapes):
        raise ValueError(f"the model takes {len(inputs)} input(s) ({', '.join(i.name for i in inputs)}), "
                         f"but {len(shapes)} shape(s) were given")
    rng = np.random.default_rng(seed)
    return {i.name: rng.standard_normal(tuple(s)).astype(input_dtype(i)) for i, s in zip(inputs, shapes)}


def input_dtype(session_input: Any) -> type:
    """The NumPy type a session input takes: float16 for a model converted to fp16, else float32."""
    return np.float16 if session_input.type == "tensor(float16)" else np.float32
