"""Measure an exported network on the device's target and set it beside the table's prediction
and the budget (see :mod:`hwnas.check`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from hwnas.check import LatencyCheck, check_latency
from hwnas.spaces.genotypes import Genotype
from hwnas.device import Model, open_target, resolve_device
from hwnas.device.spec import DeviceSpec
from hwnas.spaces import SearchSpace


def measure_exported(onnx_path: str | Path, space: SearchSpace, genotype: Genotype, device: str | DeviceSpec,
                     tables_dir: Optional[str | Path] = None, budget_ms: Optional[float] = None) -> LatencyCheck:
    """Time the ONNX file on the device's target, with the table's reference, prediction and noise
    band where a table of this target exists."""
    from hwnas.table import MissingRowsError, load_table_for

    spec = resolve_device(device)
    candidate = Model(Path(onnx_path).read_bytes(), ((spec.batch_size, *space.input_shape),))
    try:
        table = load_table_for(device, space, tables_dir, warn_other_host=False)  # as named: its hint names it so
    except (FileNotFoundError, ValueError, MissingRowsError) as exc:
        return check_latency(candidate, spec, None, budget_ms, note=f"no table prediction ({exc})")
    if not table.describes(open_target(spec)):  # its speed and prediction are another machine's
        return check_latency(candidate, spec, None, budget_ms, note=f"no table prediction: the table describes "
                             f"{table.host}, not {open_target(spec).where}")
    return check_latency(candidate, spec, table, budget_ms, table.costs().of(genotype))
