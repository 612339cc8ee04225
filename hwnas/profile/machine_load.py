"""How busy the machine is with work that is not ours: the interference a latency reading cannot see.

On Linux, ``/proc/stat`` gives the CPU time all processes used (and, on a virtual machine, the
time the hypervisor gave to others: steal) and ``os.times`` our own; the difference over a
stretch of wall time is how many cores other work kept busy. Elsewhere the load is unknown
(``None``) and nothing is claimed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

BUSY_CORES = 0.25  # other work above a quarter of a core on average makes timings suspect


def _cpu_seconds() -> Optional[Tuple[float, float]]:
    """(busy CPU seconds of every process, our process's CPU seconds), or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    guest = sum(ticks[8:10]) if len(ticks) > 9 else 0  # guest time is already counted in user time
    hz = os.sysconf("SC_CLK_TCK")
    mine = os.times()
    return (sum(ticks) - idle - guest) / hz, mine.user + mine.system


@dataclass(frozen=True)
class Load:
    """Cores kept busy by other work, on average over ``seconds`` of wall time."""

    other_cores: float
    seconds: float

    @property
    def busy(self) -> bool:
        return self.other_cores > BUSY_CORES

    def describe(self) -> str:
        return (f"other processes kept {self.other_cores:.2f} of {os.cpu_count()} cores busy over "
                f"{self.seconds:.0f} s")

    def to_dict(self) -> dict:
        return {"other_cores": round(self.other_cores, 3), "seconds": round(self.seconds, 1), "busy": self.busy}


class LoadMonitor:
    """Measures other processes' CPU use between :meth:`start` and :meth:`stop` (also a context manager)."""

    def __init__(self) -> None:
        self._start: Optional[Tuple[float, float, float]] = None
        self.load: Optional[Load] = None

    def start(self) -> "LoadMonitor":
        now = _cpu_seconds()
        self._start = None if now is None else (time.monotonic(), *now)
        return self

    def stop(self) -> Optional[Load]:
        now = _cpu_seconds()
        if self._start is None or now is None:
            return None
        t0, busy0, mine0 = self._start
        seconds = max(time.monotonic() - t0, 1e-6)
        others = max(0.0, (now[0] - busy0) - (now[1] - mine0))
        self.load = Load(others / seconds, seconds)
        return self.load

    def __enter__(self) -> "LoadMonitor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def sample_load(seconds: float = 0.5) -> Optional[Load]:
    """Other processes' CPU use over the next ``seconds`` while this one sleeps."""
    monitor = LoadMonitor().start()
    time.sleep(seconds)
    return monitor.stop()


def usable_cores() -> int:
    """The cores this process may use (its CPU affinity, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cores_free(load: Optional[Load], cores: Optional[int] = None) -> int:
    """Cores to compute on: this machine's (the ones this process may use), less those other
    processes keep busy (a quarter of a core or more counts as one), at least 1."""
    if cores is None:
        cores = usable_cores()
    busy = int(load.other_cores + 0.75) if load is not None else 0
    return max(1, cores - busy)


class ThreadGovernor:
    """PyTorch's intra-op threads for a long run, fitted to the machine's load.

    With ``threads=-1`` (auto) the run starts with the cores other processes leave free (sampled
    for ``first_sample`` s) and re-fits at each :meth:`update` (an epoch's end, and every
    ``refit_s`` seconds within one through :meth:`tick`) to their use since the last one: threads that wait for a core another process holds spin and stall the whole
    step (``scripts/bench_contention.py``: 3.4x slower beside one busy process on 2 cores, 1.0x
    with one thread). A positive ``threads`` is used as given; 0 leaves PyTorch's setting.
    Results can differ in the last bits between thread counts: for bit-identical reruns give
    ``threads``.
    """

    def __init__(self, threads: int = 0, first_sample: float = 0.3, refit_s: float = 20.0, share: int = 1) -> None:
        self.threads, self.first_sample, self.refit_s = threads, first_sample, refit_s
        self.share = max(share, 1)  # processes of one run on this machine (data-parallel ranks): auto splits the cores
        self._monitor: Optional[LoadMonitor] = None
        self._last = time.monotonic()

    def start(self) -> int:
        import torch

        if self.threads >= 0:
            if self.threads > 0:
                torch.set_num_threads(self.threads)
            return torch.get_num_threads()
        chosen = self._fit(sample_load(self.first_sample))
        torch.set_num_threads(chosen)
        self._monitor = LoadMonitor().start()
        return chosen

    def tick(self) -> None:
        """Between steps: re-fit when ``refit_s`` seconds have passed since the last fit, so a
        process that starts mid-epoch is given its core within seconds."""
        if self._monitor is not None and time.monotonic() - self._last >= self.refit_s:
            self.update()

    def update(self) -> int:
        """Threads for what comes next; with auto, from other processes' use since the last call."""
        import torch

        self._last = time.monotonic()
        if self._monitor is not None:
            chosen = self._fit(self._monitor.stop())
            torch.set_num_threads(chosen)
            self._monitor = LoadMonitor().start()
        return torch.get_num_threads()

    def _fit(self, load) -> int:
        # the run's other ranks count among the busy processes once they run; at the start they
        # do not yet, so each rank also keeps to its share of the machine
        return max(1, min(cores_free(load), usable_cores() // self.share))
