"""Stopping long runs cleanly: the first Ctrl-C or SIGTERM asks to stop at the next safe point
(the end of a step, where a checkpoint is consistent); a second Ctrl-C stops at once."""

from __future__ import annotations

import signal
import threading
from typing import Any, Dict


class Interrupted(Exception):
    """A long run was stopped (Ctrl-C or SIGTERM) after saving what it needs to resume."""


class StopRequests:
    def __init__(self) -> None:
        self.requested = False
        self._previous: Dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
