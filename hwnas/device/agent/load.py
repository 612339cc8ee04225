"""How busy the machine is with work that is not ours: the interference a latency reading cannot see.

Needs only the standard library (this module travels to targets with the agent).

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
        # over less than half a second the reading is too coarse (clock ticks) to accuse anyone
        return self.seconds >= 0.5 and self.other_cores > BUSY_CORES

    def describe(self) -> str:
        return f"other processes kept {self.other_cores:.2f} cores busy over {self.seconds:.0f} s"

    @classmethod
    def from_dict(cls, d: dict) -> "Load":
        return cls(float(d["other_cores"]), float(d["seconds"]))

    def to_dict(self) -> dict:
        return {"other_cores": self.other_cores, "seconds": self.seconds, "busy": self.busy}


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
