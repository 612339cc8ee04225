"""Progress bars (tqdm, on stderr) for long work: pieces and networks measured, steps trained."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict


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
