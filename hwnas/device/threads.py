"""PyTorch's threads for a long run (search, training), fitted to what other processes leave free."""

from __future__ import annotations

import time
from typing import Optional

from hwnas.device.agent.host import usable_cores
from hwnas.device.agent.load import Load, LoadMonitor, sample_load


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
