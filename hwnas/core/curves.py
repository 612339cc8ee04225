"""A long run's curves for TensorBoard: every number of each step and each epoch, written with
PyTorch's own ``SummaryWriter`` into the run folder (``tensorboard --logdir runs/NAME``)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any, Mapping


def require_tensorboard() -> None:
    """Raise, saying what to install, where PyTorch's writer lacks the tensorboard package."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ValueError("--tensorboard needs the tensorboard package: pip install 'hwnas[tensorboard]'")


class Curves:
    """Scalars under ``step/...`` (one per training step, counted from ``first_step``) and
    ``epoch/...`` (one per epoch); text and missing values are left out."""

    def __init__(self, folder: str | Path, first_step: int = 0) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder))
        self.steps = first_step

    @staticmethod
    def _numbers(values: Mapping[str, Any]) -> dict:
        return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v)}

    def step(self, stats: Mapping[str, Any]) -> None:
        self.steps += 1
        for key, value in self._numbers(stats).items():
            if key not in ("epoch", "step"):
                self.writer.add_scalar(f"step/{key}", value, self.steps)

    def epoch(self, row: Mapping[str, Any]) -> None:
        for key, value in self._numbers(row).items():
            if key != "epoch":
                self.writer.add_scalar(f"epoch/{key}", value, int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
