"""What a long run shows while it runs: progress bars (tqdm, on stderr) for pieces and networks
measured and steps trained, and curves for TensorBoard."""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from hwnas.core.curves import Curves

Feed = Callable[[Dict[str, Any]], None]


def progress_bar(desc: str, unit: str, enabled: bool = True) -> Callable[[int, int, str], None]:
    """A tqdm bar fed ``(done, total, note)``, opened at the first call and closed when done."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, note: str = "") -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit=unit, leave=True, disable=not enabled)
        bar.set_postfix_str(note[-48:], refresh=False)
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    return update


class StepBar:
    """A step progress bar as a context (closed however the run ends), fed the step's stats."""

    def __init__(self, total: int, initial: int, desc: str, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", delay=1.0, disable=not enabled)

    def __enter__(self) -> Callable[[Dict[str, Any]], None]:
        def step(stats: Dict[str, Any]) -> None:
            shown = {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in stats.items()
                     if k in ("epoch", "loss", "acc")}
            if "e_lat_ms" in stats:
                shown["E_lat"] = f"{stats['e_lat_ms']:.2f}ms" if math.isfinite(stats["e_lat_ms"]) else "unknown"
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)

        return step

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


@contextmanager
def feedback(total: int, initial: int, desc: str, *, bar: bool = True, curves: Optional[Path] = None,
             on_step: Optional[Feed] = None, on_epoch: Optional[Feed] = None,
             say: Optional[Callable[[str], None]] = None) -> Iterator[Tuple[Feed, Feed]]:
    """``(step, epoch)`` callbacks of a run of ``total`` steps (``initial`` done): a step bar, the
    TensorBoard curves in the folder ``curves`` (where given), then the caller's own callbacks."""
    writer = Curves(curves, initial) if curves is not None else None
    if writer is not None:
        (say or logging.getLogger("hwnas").info)(f"TensorBoard curves in {curves} (tensorboard --logdir {curves})")
    with StepBar(total, initial, desc, bar) as step:
        def stepped(stats: Dict[str, Any]) -> None:
            step(stats)
            for feed in (writer.step if writer else None, on_step):
                if feed:
                    feed(stats)

        def epoched(row: Dict[str, Any]) -> None:
            for feed in (writer.epoch if writer else None, on_epoch):
                if feed:
                    feed(row)

        try:
            yield stepped, epoched
        finally:
            if writer is not None:
                writer.close()
