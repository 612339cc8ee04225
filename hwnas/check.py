"""A network's latency measured on the device's target and held against a budget with a stated
confidence: the one verdict the search's measured budget, ``export --measure`` and the demo give.

Two things make a single reading a weak promise, and the check states both:

- **The machine's speed drifts.** On a shared machine the same network can read a quarter
  slower a minute later (other guests, clocks), networks of a size alike. The check therefore
  times the candidate interleaved with three of the table's *reference networks* (the validated
  networks whose recorded latency is nearest the candidate's prediction) and states the
  machine's speed now against profiling time: ``speed = median(reference now / reference
  then)``. The candidate's latency at the speed the table describes is ``measured / speed``. A
  dedicated device reads ``speed`` ~ 1.
- **Readings have noise.** The band is the larger of the table's re-measure noise (the 90th
  percentile, over its validation networks, of how far two halves of the same measurement
  disagreed once the machine's drift between the halves is divided out) and this reading's own
  halves against the references, and at least :data:`MIN_BAND`. A budget is kept
  *with confidence* when latency x (1 + band) <= budget.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from hwnas.spaces.genotypes import Genotype, genotype_from_dict
from hwnas.device import LATENCY_STATISTIC, Model, Timing, measure, module_model
from hwnas.device.spec import DeviceSpec
from hwnas.table import LatencyTable

log = logging.getLogger(__name__)

MIN_BAND = 0.01
REPEATS, ROUNDS = 200, 10  # many short rounds: the fast state of a machine that flickers is caught in each
REFERENCES = 3


@dataclass
class LatencyCheck:
    """One reading of a candidate network on the target, at the table's speed, with its band."""

    device: str
    reading: Timing  # the candidate as timed now
    speed: Optional[float]  # reference now / reference at profiling; None where the table has no reference
    band: float  # relative noise band of the latency
    budget_ms: Optional[float] = None
    predicted_ms: Optional[float] = None
    note: str = ""  # why there is no prediction or reference, where there is none

    @property
    def latency_ms(self) -> float:
        """The candidate's latency at the speed the table describes."""
        return self.reading.latency_ms / (self.speed or 1.0)

    @property
    def upper_ms(self) -> float:
        return self.latency_ms * (1 + self.band)

    @property
    def verdict(self) -> Optional[str]:
        """``kept``, ``inside the band`` (under the budget by less than the noise) or ``over``."""
        if self.budget_ms is None:
            return None
        if self.upper_ms <= self.budget_ms:
            return "kept"
        return "inside the band" if self.latency_ms <= self.budget_ms else "over"

    @property
    def kept(self) -> bool:
        return self.verdict == "kept"

    def describe(self) -> str:
        r = self.reading
        text = (f"measured on {self.device}: {self.latency_ms:.3f} ms +-{100 * self.band:.1f}% "
                f"({LATENCY_STATISTIC} of {r.repeats} interleaved runs")
        if self.speed is not None:
            text += f"; read {r.latency_ms:.3f} ms with the machine at {100 / self.speed:.0f}% of its profiled speed"
        text += ")"
        if self.predicted_ms is not None:
            text += f"; table predicts {self.predicted_ms:.3f} ms ({self.error_pct:+.1f}%)"
        elif self.note:
            text += f"; {self.note}"
        if self.budget_ms is not None:
            text += {"kept": f": budget {self.budget_ms:g} ms kept with the noise band "
                             f"({100 * self.upper_ms / self.budget_ms:.0f}% of it at the band's edge)",
                     "inside the band": f": under the budget {self.budget_ms:g} ms by less than the noise band, "
                                        f"not kept with confidence",
                     "over": f": over the budget {self.budget_ms:g} ms"}[self.verdict]
        return text

    @property
    def error_pct(self) -> Optional[float]:
        if self.predicted_ms is None:
            return None
        return 100.0 * (self.predicted_ms - self.latency_ms) / self.latency_ms

    def to_dict(self) -> Dict[str, Any]:
        return {"device": self.device, "latency_ms": self.latency_ms, "band": self.band, "upper_ms": self.upper_ms,
                "speed": self.speed, "reading": self.reading.to_dict(), "budget_ms": self.budget_ms,
                "verdict": self.verdict, "predicted_ms": self.predicted_ms, "error_pct": self.error_pct,
                "statistic": LATENCY_STATISTIC}


def reference_networks(table: LatencyTable, near_ms: Optional[float] = None) -> List[Dict[str, Any]]:
    """Three of the table's validated networks (``genotype``, ``measured_ms``): those whose
    measured latency was nearest ``near_ms`` (a machine that slows does not slow small and large
    networks alike), else those at the quartiles. Three readings of the machine's speed, so that
    one noisy reading of a reference, then or now, does not set it."""
    networks = [n for n in (table.meta.get("validation") or {}).get("networks", []) if n.get("measured_ms")]
    if len(networks) < REFERENCES:
        return []
    ordered = sorted(networks, key=lambda n: n["measured_ms"])
    if near_ms is None:
        return [ordered[round(q * (len(ordered) - 1))] for q in (0.25, 0.5, 0.75)]
    return sorted(ordered, key=lambda n: abs(np.log(n["measured_ms"] / near_ms)))[:REFERENCES]


def table_band(table: Optional[LatencyTable]) -> float:
    """The table's re-measure noise as a fraction (90th percentile of its validation's halves, drift
    divided out; tables validated before that was kept give their plain halves' worst)."""
    noise = ((table.meta.get("validation") or {}).get("noise") or {}) if table is not None else {}
    pct = noise.get("relative_p90_pct", noise.get("remeasure_max_pct"))
    return max(MIN_BAND, float(pct) / 100) if pct is not None else MIN_BAND


def check_latency(candidate: Model, device: DeviceSpec, table: Optional[LatencyTable] = None,
                  budget_ms: Optional[float] = None, predicted_ms: Optional[float] = None,
                  note: str = "") -> LatencyCheck:
    """Time ``candidate`` on ``device``'s target, beside the table's reference networks where it
    has them (``table`` must describe that target)."""
    references = reference_networks(table, predicted_ms) if table is not None else []
    models = [candidate]
    for reference in references:
        genotype: Genotype = genotype_from_dict(json.loads(reference["genotype"]))
        models.append(module_model(table.space.build(genotype).eval(), candidate.shapes))
    timed = measure(device, models, repeats=REPEATS, rounds=ROUNDS)
    reading = timed.timings[0]
    halves = np.array([a.latency_ms / b.latency_ms for a, b in timed.halves])
    if references:
        speed = float(np.median([t.latency_ms / r["measured_ms"] for t, r in zip(timed.timings[1:], references)]))
        now = abs(halves[0] / np.median(halves[1:]) - 1)  # the candidate against the references, half against half
    else:
        speed, now = None, abs(halves[0] - 1)
    if timed.load and timed.load.busy:
        log.warning("while %s was measured, %s: the reading may be slow", device.id, timed.load.describe())
    return LatencyCheck(device.id, reading, speed, max(table_band(table), float(now)), budget_ms, predicted_ms, note)
