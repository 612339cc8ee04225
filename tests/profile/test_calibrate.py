import numpy as np
import pytest

import hwnas.profile.calibrate as calibrate
from hwnas.device.spec import resolve_device
from hwnas.table import LatencyTable, table_path
from hwnas.spaces import make_space


def test_validation_reports_metrics(tiny_table, tmp_path):
    space, table, tables = tiny_table
    result = calibrate.validate_and_calibrate(table, table_path("cpu", space, tables), resolve_device("cpu"), n=15,
                                              repeats=8)
    raw = result["raw"]
    assert raw["n"] == 15 and 0 <= raw["within_10pct"] <= 1
    # Spearman is undefined (NaN) only when every network got the same prediction: at 4 channels
    # and 8x8 pieces can measure at the per-run overhead, so each sums to the overhead alone
    predicted = {round(n["table_ms"], 9) for n in result["networks"][:15]}
    assert -1 <= raw["spearman"] <= 1 if len(predicted) > 1 else np.isnan(raw["spearman"])
    assert result["raw_heldout"]["n"] == 5 and "mape_pct" in result["calibrated_heldout"]
    # the model with the lowest cross-validated error is kept; "raw" means no calibration
    best = min(result["cv_mape_pct"], key=result["cv_mape_pct"].get)
    assert result["calibrated"] == (best != "raw") == ("calibration" in table.meta)
    assert set(result["cv_mape_pct"]) == {"raw"} | {f + o for f in ("op", "op_stride", "op_size") for o in ("", "+offset")}
    assert 0 <= result["noise"]["remeasure_within_10pct"] <= 1
    saved = LatencyTable.load(table_path("cpu", space, tables))
    assert saved.meta["validation"]["networks"][0]["measured_ms"] > 0
    if result["calibrated"]:
        assert saved.calibration["model"] == best


def test_class_features_add_up_to_the_raw_prediction(tiny_table):
    space, table, _ = tiny_table
    x = np.stack([space.encode(space.sample(np.random.default_rng(i))) for i in range(10)])
    for features in ("op", "op_stride", "op_size"):
        classes, f = calibrate.class_features(table, x, features)
        assert f.shape == (10, len(classes))
        raw = table.costs(calibrated=False).many(x) - table.meta["overhead_ms"]
        np.testing.assert_allclose(f.sum(axis=1), raw, rtol=1e-9)


def test_search_like_genotypes_are_dominated_by_few_ops():
    space = make_space("darts", init_channels=4, layers=3, input_size=8, in_channels=1)
    rng = np.random.default_rng(0)

    def top_share(genotypes):
        x = np.stack([space.encode(g) for g in genotypes])[:, space.op_variables()]
        return np.mean([np.bincount(row, minlength=len(space.ops)).max() / len(row) for row in x])

    peaked = calibrate.search_like_genotypes(space, 50, rng)
    uniform = [space.sample(rng) for _ in range(50)]
    assert top_share(peaked) > top_share(uniform) + 0.2


@pytest.mark.parametrize("n", ["0", "1", "14"])
def test_validate_with_too_few_networks_leaves_the_table_as_it_was(tiny_table, tmp_path, capsys, n):
    from hwnas.cli import main

    space, _, tables = tiny_table
    path = table_path("cpu", space, tables)
    before = (path.read_text(), path.with_suffix(".json").read_text())
    code = main(["validate", "--space", "nb201", "--init-channels", "4", "--layers", "1", "--input-size", "8",
                 "--tables-dir", str(tables), "-n", n])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "at least 15 networks" in err[0] and "unchanged" in err[0]
    assert (path.read_text(), path.with_suffix(".json").read_text()) == before
