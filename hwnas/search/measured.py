"""A latency budget as a measured promise: the derived network is exported, timed on the device's
target, and repaired again until its measured latency keeps the budget with the noise band.

The table predicts; the device decides. A reading (see :mod:`hwnas.check`) is the latency at
the speed the table describes, with a noise band; the budget is kept with confidence when the
latency plus its band fits. Otherwise the table under-predicted this network by
``measured / predicted``: the search's target in table terms is lowered by that ratio and the
band, and the genotype repaired to it, then measured again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hwnas.check import LatencyCheck, check_latency
from hwnas.spaces.genotypes import Genotype, genotype_to_json
from hwnas.device import module_model
from hwnas.device.spec import DeviceSpec
from hwnas.search.repair import repair_to_budget
from hwnas.spaces.costs import Costs
from hwnas.spaces import SearchSpace
from hwnas.table import LatencyTable

log = logging.getLogger(__name__)

MAX_CORRECTIONS = 4
AIM = 0.005  # a corrected target sits this far inside the band's edge: the band already holds the noise


def check_genotype(space: SearchSpace, genotype: Genotype, device: DeviceSpec, table: Optional[LatencyTable] = None,
                   budget_ms: Optional[float] = None, predicted_ms: Optional[float] = None) -> LatencyCheck:
    """The genotype's final network (weights do not change its latency) checked on the device's target."""
    candidate = module_model(space.build(genotype).eval(), [(device.batch_size, *space.input_shape)])
    return check_latency(candidate, device, table, budget_ms, predicted_ms)


@dataclass
class MeasuredBudget:
    """The outcome: the genotype kept, and every (prediction, reading) on the way."""

    genotype: Genotype
    budget_ms: float
    checks: List[Dict[str, Any]] = field(default_factory=list)
    last: Optional[LatencyCheck] = None

    @property
    def measured(self) -> Dict[str, Any]:
        return self.checks[-1]

    @property
    def within(self) -> bool:
        """Kept with confidence: the latency plus its noise band fits the budget."""
        return self.last is not None and self.last.kept

    def describe(self) -> str:
        text = self.last.describe() if self.last else "not measured"
        if len(self.checks) > 1:
            text += f", after {len(self.checks) - 1} measured correction(s)"
        return text

    def to_dict(self) -> Dict[str, Any]:
        return {"budget_ms": self.budget_ms, "within_budget": self.within,
                "verdict": self.last.verdict if self.last else None, "checks": self.checks}


def keep_measured_budget(space: SearchSpace, genotype: Genotype, latency: Costs, device: DeviceSpec,
                         budget_ms: float, probs: Dict[str, np.ndarray], keep: Sequence[Tuple[Costs, float]] = (),
                         check: Optional[Callable[[Genotype, float], LatencyCheck]] = None,
                         say: Callable[[str], None] = log.info, max_skip: Optional[int] = None,
                         table: Optional[LatencyTable] = None) -> MeasuredBudget:
    """Check the genotype on the target; while it does not keep ``budget_ms`` with confidence,
    correct the target and repair again.

    ``latency``: the table's prediction; ``probs``: architecture
    probabilities that rank repairs; ``keep``: other budgets no repair may break; ``max_skip``:
    the derivation's skip cap (see :func:`~hwnas.search.repair.repair_to_budget`); ``check``
    (genotype, predicted ms) -> reading, by default :func:`check_genotype` with ``table``.
    """
    if check is None:
        check = lambda g, p: check_genotype(space, g, device, table, budget_ms, p)  # noqa: E731
    outcome = MeasuredBudget(genotype, budget_ms)
    target = budget_ms
    for correction in range(MAX_CORRECTIONS + 1):
        predicted = latency.of(genotype)
        reading = check(genotype, predicted)
        outcome.genotype, outcome.last = genotype, reading
        outcome.checks.append({"genotype": genotype_to_json(genotype), "target_ms": target, "predicted_ms": predicted,
                               "measured_ms": reading.latency_ms, "band": reading.band, "speed": reading.speed,
                               "read_ms": reading.reading.latency_ms, "runs": reading.reading.repeats,
                               "verdict": reading.verdict})
        if reading.kept or correction == MAX_CORRECTIONS:
            break
        # aim the latency's band edge at the budget: in table terms, scaled by how far off the table was here
        new_target = min(target, predicted) * budget_ms / reading.upper_ms * (1 - AIM)
        say(f"measured {reading.latency_ms:.3f} ms +-{100 * reading.band:.1f}% on {device.id} against the budget "
            f"{budget_ms:g} ms ({reading.verdict}); the table predicts this network "
            f"{reading.error_pct:+.1f}% off; repairing to {new_target:.3f} ms in table terms")
        try:
            genotype, _ = repair_to_budget(space, latency, genotype, probs, new_target, unit="ms", keep=keep,
                                           max_skip=max_skip)
        except ValueError as exc:  # nothing cheaper within the other budgets
            say(f"cannot repair further: {exc}")
            break
        target = new_target
    if not outcome.within:
        log.warning("the derived network measures %s", outcome.last.describe())
    return outcome
