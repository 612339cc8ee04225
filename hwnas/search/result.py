"""The end of a search: the derived genotype made to keep its budgets (by the table, then as
measured on the device), and the run's ``genotype.json`` and ``result.json``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

import pandas as pd

from hwnas.core.counting import count_params
from hwnas.spaces.genotypes import Genotype, save_genotype
from hwnas.runs import RunFolder
from hwnas.search.arch import Architecture
from hwnas.search.config import SearchConfig
from hwnas.search.measured import MeasuredBudget, keep_measured_budget
from hwnas.search.repair import repair_to_budget
from hwnas.spaces import SearchSpace
from hwnas.spaces.costs import Costs
from hwnas.table import LatencyTable

Budget = Tuple[str, Costs, float, str]  # (name, its costs, budget, unit)



class SearchState(Protocol):
    """What the end of a search reads of its :class:`~hwnas.search.searcher.Searcher`."""

    cfg: SearchConfig
    table: Optional[LatencyTable]
    proxy: SearchSpace
    final: SearchSpace
    arch: Architecture
    folder: RunFolder
    run_dir: Path
    metrics: List[Dict[str, Any]]
    missing_table: Optional[str]
    penalise_budgets: bool

    def derive(self) -> Genotype: ...

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """What a search found: the derived ``genotype`` (also ``run_dir/genotype.json``), the
    epochs' ``metrics``, the table's ``latency_ms`` of its final network (``None`` without a
    table), whether the budget ``repaired`` it, its latency ``measured`` on the device (where a
    latency budget was checked) or why not (``measure_note``), and the run's ``config``."""

    genotype: Genotype
    metrics: pd.DataFrame
    run_dir: Path
    latency_ms: Optional[float]
    repaired: bool
    measured: Optional[MeasuredBudget] = None  # the budget checked on the device, where it could be
    measure_note: Optional[str] = None  # why it was not
    config: Optional[SearchConfig] = None


def table_budgets(searcher: SearchState) -> List[Budget]:
    """(name, costs, budget, unit) of every budget the derived network must keep."""
    cfg, table, final = searcher.cfg, searcher.table, searcher.final
    budgets: List[Budget] = []
    if cfg.latency_budget_ms and table is not None:
        budgets.append(("latency", table.costs(), cfg.latency_budget_ms, "ms"))
    if cfg.param_budget:
        budgets.append(("parameters", final.params, float(cfg.param_budget), "params"))
    return budgets


def keep_budgets(searcher: SearchState, genotype: Genotype,
                 budgets: Sequence[Budget]) -> Tuple[Genotype, List[str]]:
    """The genotype repaired (by the table and exact parameters) to keep every budget, and one
    line per budget it broke."""
    probs = searcher.arch.numpy_probs()
    broken = []
    for name, costs, budget, unit in budgets:
        before = costs.of(genotype)
        if before > budget:
            others = [(c, b) for n, c, b, _ in budgets if n != name]
            genotype, swaps = repair_to_budget(searcher.proxy, costs, genotype, probs, budget, unit=unit,
                                               keep=others, max_skip=searcher.cfg.max_skip)
            broken.append(f"the derived genotype breaks its {name} budget ({before:.4g} {unit} > {budget:.4g} "
                          f"{unit}); repaired: {'; '.join(swaps)}")
    return genotype, broken


def finish(searcher: SearchState) -> SearchResult:
    """Derive, repair to every budget by the table, check the latency budget on the device,
    and write the run's genotype and result."""
    cfg, table, final = searcher.cfg, searcher.table, searcher.final
    budgets = table_budgets(searcher)
    genotype, broken = keep_budgets(searcher, searcher.derive(), budgets)
    for line in broken:
        # expected where the budget binds by derivation alone (no penalty), a warning where a penalty missed it
        log.log(logging.WARNING if searcher.penalise_budgets else logging.INFO, "%s", line)
    repaired = bool(broken)
    measured, note = measured_budget(searcher, genotype, [(c, b) for n, c, b, _ in budgets if n != "latency"])
    if measured is not None:
        genotype = measured.genotype
    latency = table.costs().of(genotype) if table is not None else None
    save_genotype(genotype, searcher.folder / "genotype.json")
    searcher.folder.write_json("result.json", {
        "genotype": genotype.to_dict(), "latency_ms": latency, "repaired": repaired,
        "latency": "from the table" if table is not None else
                   f"unknown: {searcher.missing_table or 'no latency table'}",
        "latency_budget_ms": cfg.latency_budget_ms, "param_budget": cfg.param_budget,
        "params": count_params(final.build(genotype)), "device": cfg.device,
        "measured_latency_ms": measured.measured["measured_ms"] if measured else None,
        "budget_verdict": (measured.last.verdict if measured else
                           ("table terms only" if cfg.latency_budget_ms and table is not None else None)),
        "measured_budget": measured.to_dict() if measured else None,
        "measured_note": note,
    })
    return SearchResult(genotype, pd.DataFrame(searcher.metrics), searcher.run_dir, latency, repaired, measured, note,
                        searcher.cfg)


def measured_budget(searcher: SearchState, genotype: Genotype,
                    keep: Sequence[Tuple[Costs, float]]) -> Tuple[Optional[MeasuredBudget], Optional[str]]:
    """Measure the derived network on the table's target (here, or through the device's runner)
    and repair until it keeps the budget with confidence (see :mod:`hwnas.search.measured`);
    ``(None, why)`` where the target cannot be reached, the budget then kept in table terms only."""
    from hwnas.device import DeviceUnavailableError, open_target, resolve_device

    cfg, table = searcher.cfg, searcher.table
    if not (cfg.latency_budget_ms and table is not None):
        return None, None
    if not cfg.measure_budget:
        return None, "kept in table terms only: not measured (--no-measure)"
    try:
        device = resolve_device(cfg.device)
        target = open_target(device)
        target.check_available()
        if not table.describes(target):
            how = ("profile the target the device reaches (hwnas profile --device ...), or fix its runner"
                   if device.remote else "profile this machine, or give the device file a `runner:` that reaches "
                   "that one")
            return None, f"kept in table terms only: the table describes {table.host}, not {target.where}; {how}"
        return keep_measured_budget(searcher.final, genotype, table.costs(), device, cfg.latency_budget_ms,
                                    searcher.arch.numpy_probs(), keep=keep, say=log.warning, max_skip=cfg.max_skip,
                                    table=table), None
    except (ValueError, DeviceUnavailableError) as exc:  # the target failed: the searched genotype stays
        return None, f"kept in table terms only: not measured ({exc})"
