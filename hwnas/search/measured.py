"""A latency budget as a measured promise: the derived network is exported, timed on the device,
and repaired again until its measured latency keeps the budget.

The table predicts; the device decides. When the measured latency breaks the budget, the table
under-predicted this network by ``measured / predicted``: the search's target in table terms is
lowered by that ratio (the measurement corrects the model where it was wrong) and the genotype
repaired to it, then measured again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hwnas.profile.calibrate import measure_genotypes
from hwnas.core.device import DeviceSpec
from hwnas.core.genotype import Genotype, genotype_to_json
from hwnas.profile.machine_load import sample_load
from hwnas.profile.timing import LATENCY_STATISTIC, Timing
from hwnas.search.repair import CostMany, repair_to_budget
from hwnas.spaces import SearchSpace

log = logging.getLogger(__name__)

MAX_CORRECTIONS = 4
SETTLE_S = 1.0
MARGIN = 0.01  # a corrected target sits this far under the ratio-corrected budget


def measure_genotype(space: SearchSpace, genotype: Genotype, device: DeviceSpec, repeats: int = 100,
                     rounds: int = 4, opset: int = 17) -> Timing:
    """Latency of the genotype's exported final network on ``device`` (weights do not change it)."""
    return measure_genotypes(space, [genotype], device, repeats=repeats, rounds=rounds, opset=opset).timings[0]


@dataclass
class MeasuredBudget:
    """The outcome: the genotype kept, and every (prediction, measurement) on the way."""

    genotype: Genotype
    budget_ms: float
    checks: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def measured(self) -> Dict[str, Any]:
        return self.checks[-1]

    @property
    def within(self) -> bool:
        return self.measured["measured_ms"] <= self.budget_ms

    def describe(self) -> str:
        last = self.measured
        text = (f"predicted {last['predicted_ms']:.3f} ms, measured {last['measured_ms']:.3f} ms "
                f"({LATENCY_STATISTIC} of {last['runs']} runs; median {last['median_ms']:.3f} ms): "
                f"{'within' if self.within else 'over'} the budget {self.budget_ms:g} ms")
        if len(self.checks) > 1:
            text += f" after {len(self.checks) - 1} measured correction(s)"
        return text

    def to_dict(self) -> Dict[str, Any]:
        return {"budget_ms": self.budget_ms, "within_budget": self.within, "statistic": LATENCY_STATISTIC,
                "checks": self.checks}


def keep_measured_budget(space: SearchSpace, genotype: Genotype, predict_many: CostMany, device: DeviceSpec,
                         budget_ms: float, probs: Dict[str, np.ndarray], keep: Sequence[Tuple[CostMany, float]] = (),
                         measure: Optional[Callable[[Genotype], Timing]] = None,
                         say: Callable[[str], None] = log.info, max_skip: Optional[int] = None) -> MeasuredBudget:
    """Measure the genotype; while it breaks ``budget_ms``, correct the target and repair again.

    ``predict_many``: the table's prediction of encoded genotypes; ``probs``: architecture
    probabilities that rank repairs; ``keep``: other budgets no repair may break; ``max_skip``:
    the derivation's skip cap (see :func:`~hwnas.search.repair.repair_to_budget`).
    """
    if measure is None:
        # Let the machine settle after training (threads, clocks) and check nothing else keeps it busy.
        load = sample_load(SETTLE_S)
        if load is not None and load.busy:
            log.warning("measuring the derived network while %s: the measurement may come out slow", load.describe())
        measure = lambda g: measure_genotype(space, g, device)  # noqa: E731
    outcome = MeasuredBudget(genotype, budget_ms)
    target = budget_ms
    for correction in range(MAX_CORRECTIONS + 1):
        predicted = float(predict_many(space.encode(genotype)[None])[0])
        timing = measure(genotype)
        outcome.genotype = genotype
        outcome.checks.append({"genotype": genotype_to_json(genotype), "target_ms": target, "predicted_ms": predicted,
                               "measured_ms": timing.latency_ms, "median_ms": timing.median_ms,
                               "runs": timing.repeats})
        if timing.latency_ms <= budget_ms or correction == MAX_CORRECTIONS:
            break
        ratio = timing.latency_ms / predicted
        new_target = min(target, predicted) * budget_ms / timing.latency_ms * (1 - MARGIN)
        say(f"measured {timing.latency_ms:.3f} ms on {device.id}, over the budget {budget_ms:g} ms: the table "
            f"predicts this network {100 * (1 / ratio - 1):+.1f}% off; repairing to {new_target:.3f} ms in table terms")
        try:
            genotype, _ = repair_to_budget(space, predict_many, genotype, probs, new_target, unit="ms", keep=keep,
                                           max_skip=max_skip)
        except ValueError as exc:  # nothing cheaper within the other budgets
            say(f"cannot repair further: {exc}")
            break
        target = new_target
    if not outcome.within:
        log.warning("the derived network still measures %.3f ms against the budget %g ms on %s",
                    outcome.measured["measured_ms"], budget_ms, device.id)
    return outcome
