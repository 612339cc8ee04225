"""A latency held against a budget: the machine's speed against its table, and the noise band."""

import json

import numpy as np
import pytest

from hwnas.check import LatencyCheck, check_latency, reference_networks, table_band
from hwnas.device import Timing, module_model, resolve_device


def reading(ms: float, speed=None, band=0.02, budget=None) -> LatencyCheck:
    return LatencyCheck("cpu", Timing.from_samples([ms] * 10), speed, band, budget, predicted_ms=1.0)


@pytest.mark.parametrize("budget, verdict", [(1.03, "kept"), (1.01, "inside the band"), (0.99, "over")])
def test_a_budget_is_kept_only_with_the_noise_band(budget, verdict):
    check = reading(1.0, band=0.02, budget=budget)
    assert check.verdict == verdict and check.kept == (verdict == "kept")
    assert json.loads(json.dumps(check.to_dict()))["verdict"] == verdict
    assert f"budget {budget:g} ms" in check.describe()


def test_a_slow_machine_is_divided_out_and_said():
    check = reading(1.2, speed=1.2, budget=1.05)  # read 20% slow while the reference was 20% slow too
    assert check.latency_ms == pytest.approx(1.0) and check.kept
    assert "1.200 ms with the machine at 83% of its profiled speed" in check.describe()


def test_the_band_comes_from_the_table_and_never_under_one_percent(tiny_table):
    _, table, _ = tiny_table
    assert table_band(None) == table_band(table) == 0.01  # not validated: no recorded noise
    validated = type(table)(table.device_id, table.space, table.rows,
                            {**table.meta, "validation": {"noise": {"relative_p90_pct": 4.0}, "networks": [
                                {"genotype": "g1", "measured_ms": 2.0}, {"genotype": "g2", "measured_ms": 1.0},
                                {"genotype": "g3", "measured_ms": 3.0}]}})
    assert table_band(validated) == 0.04 and [r["genotype"] for r in reference_networks(validated)] == ["g2", "g1", "g3"]


def test_a_validated_table_reads_the_machine_speed_beside_its_reference(tiny_table, tmp_path):
    from hwnas.profile.calibrate import validate_and_calibrate
    from hwnas.table import table_path

    space, table, tables = tiny_table
    device = resolve_device("cpu")
    validate_and_calibrate(table, tmp_path / "table.csv", device, n=15, repeats=8)
    rng = np.random.default_rng(3)
    genotype = space.sample(rng)
    candidate = module_model(space.build(genotype).eval(), [(1, *space.input_shape)])
    check = check_latency(candidate, device, table, budget_ms=100.0, predicted_ms=table.costs().of(genotype))
    assert check.speed is not None and 0.3 < check.speed < 3  # the reference ran, on the same machine
    assert check.band >= max(0.01, table_band(table)) and check.verdict == "kept"
    assert check.latency_ms == pytest.approx(check.reading.latency_ms / check.speed)
    assert table_path("cpu", space, tables).is_file()
