"""Measure an exported network end to end and set it beside the table's prediction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from hwnas.core.device import DeviceSpec, resolve_device
from hwnas.core.genotype import Genotype
from hwnas.profile.timing import LATENCY_STATISTIC, Timing, model_runner, time_interleaved
from hwnas.spaces import SearchSpace


@dataclass
class Measurement:
    device: str
    measured: Timing
    predicted_ms: Optional[float]
    table_note: str = ""

    @property
    def error_pct(self) -> Optional[float]:
        if self.predicted_ms is None:
            return None
        return 100.0 * (self.predicted_ms - self.measured.latency_ms) / self.measured.latency_ms

    def describe(self) -> str:
        m = self.measured
        text = (f"measured on {self.device}: {m.latency_ms:.3f} ms ({LATENCY_STATISTIC} of {m.repeats} interleaved "
                f"runs; median {m.median_ms:.3f}, p90 {m.p90_ms:.3f})")
        if self.predicted_ms is not None:
            text += f"; table predicts {self.predicted_ms:.3f} ms ({self.error_pct:+.1f}%)"
        elif self.table_note:
            text += f"; {self.table_note}"
        return text

    def to_dict(self) -> dict:
        return {"device": self.device, "measured": self.measured.to_dict(), "predicted_ms": self.predicted_ms,
                "error_pct": self.error_pct}


def measure_exported(onnx_path: str | Path, space: SearchSpace, genotype: Genotype, device: str | DeviceSpec,
                     tables_dir: Optional[str | Path] = None, warmup: int = 10, repeats: int = 100) -> Measurement:
    """Time the ONNX file with the device's settings; add the table's prediction when a table exists."""
    from hwnas.table import MissingRowsError, load_table_for

    spec = resolve_device(device)
    run = model_runner(Path(onnx_path).read_bytes(), [(spec.batch_size, *space.input_shape)], spec)
    timing = time_interleaved([run], repeats=repeats, warmup=warmup).timings[0]
    try:
        predicted, note = load_table_for(spec, space, tables_dir).predict(genotype), ""
    except (FileNotFoundError, ValueError, MissingRowsError) as exc:
        predicted, note = None, f"no table prediction ({exc})"
    return Measurement(spec.id, timing, predicted, note)
