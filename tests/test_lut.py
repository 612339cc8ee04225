import numpy as np
import pandas as pd
import pytest

import hwnas.profile.calibrate as calibrate
import hwnas.profile.build as tablebuild
from hwnas.core.device import DeviceUnavailableError, resolve_device
from hwnas.core.genotype import NB201Genotype
from hwnas.table import CorruptTableError, LatencyTable, MissingRowsError, load_table_for, table_path
from hwnas.spaces import make_space

TINY = dict(init_channels=4, layers=1, input_size=8)


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    tables = tmp_path_factory.mktemp("tables")
    space = make_space("nb201", **TINY)
    table = tablebuild.build_table(space, resolve_device("cpu"), tables_dir=tables, warmup=2, repeats=5)
    return space, table, tables


def test_profile_tiny_space_end_to_end(tiny_table):
    space, table, tables = tiny_table
    assert table.meta["complete"] and len(table.rows) == len(space.all_pieces())
    assert (table.rows["latency_ms"] >= 0).all() and (table.rows["p10_ms"] <= table.rows["p90_ms"]).all()
    assert 0 < table.overhead_ms < table.rows["median_ms"].max()
    assert table.meta["host"]["cores"] >= 1 and table.meta["device"]["provider"] == "CPUExecutionProvider"


def test_round_trip_and_prediction_is_sum_of_rows(tiny_table):
    space, table, tables = tiny_table
    loaded = load_table_for("cpu", space, tables_dir=tables)
    pd.testing.assert_frame_equal(loaded.rows.reset_index(drop=True), table.rows.reset_index(drop=True),
                                  check_exact=False, rtol=1e-5)
    g = NB201Genotype("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|avg_pool_3x3~2|")
    rows = loaded.rows.set_index("key")["latency_ms"]
    c1, c2, c3 = 4, 8, 16
    by_hand = (rows["nb201.stem|c3-4|s1|8x8"] + rows["nb201.reduction|c4-8|s2|8x8"]
               + rows["nb201.reduction|c8-16|s2|4x4"] + rows["nb201.head|c16-10|s1|2x2"])
    # live edges: 0->1 conv, 0->2 skip (free), 1->2 conv, 2->3 pool; node 2 sums two inputs
    for c, size in ((c1, 8), (c2, 4), (c3, 2)):
        shape = f"c{c}-{c}|s1|{size}x{size}"
        by_hand += 2 * rows[f"nor_conv_3x3|{shape}"] + rows[f"add|{shape}|n2"] + rows[f"avg_pool_3x3|{shape}"]
    assert loaded.predict(g) == pytest.approx(loaded.overhead_ms + by_hand)
    x = np.stack([space.encode(g), space.encode(space.sample(np.random.default_rng(0)))])
    many = loaded.predict_many(x)
    assert many[0] == pytest.approx(loaded.predict(g))


def test_missing_rows_error_names_rows_and_command(tiny_table):
    space, table, tables = tiny_table
    partial = LatencyTable(table.device_id, space, table.rows[~table.rows["op"].eq("nor_conv_3x3")], table.meta)
    g = NB201Genotype.from_ops(["nor_conv_3x3"] * 6)
    with pytest.raises(MissingRowsError, match=r"lacks 3 row\(s\): nor_conv_3x3\|c4-4.*hwnas profile --device cpu "
                                               r"--space nb201 --init-channels 4 --layers 1"):
        partial.predict(g)


def test_no_table_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="hwnas profile --device cpu --space darts"):
        load_table_for("cpu", make_space("darts", init_channels=6), tables_dir=tmp_path)


def test_resume_keeps_measured_rows(tmp_path, monkeypatch):
    space = make_space("nb201", **TINY)
    device = resolve_device("cpu")
    real = tablebuild.piece_runner
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args[1].key)
        if len(calls) == 6:  # in the second chunk of 4 pieces: the first chunk is kept
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tablebuild, "CHUNK", 4)
    monkeypatch.setattr(tablebuild, "piece_runner", flaky)
    with pytest.raises(KeyboardInterrupt):
        tablebuild.build_table(space, device, tables_dir=tmp_path, warmup=1, repeats=5)
    saved = LatencyTable.load(table_path("cpu", space, tmp_path))
    assert len(saved.rows) == 4 and not saved.meta["complete"]
    with pytest.raises(ValueError, match="incomplete"):
        load_table_for("cpu", space, tables_dir=tmp_path)
    calls.clear()
    monkeypatch.setattr(tablebuild, "piece_runner", real)
    done = tablebuild.build_table(space, device, tables_dir=tmp_path, warmup=1, repeats=5)
    assert done.meta["complete"] and len(done.rows) == len(space.all_pieces())
    kept = done.rows.set_index("key").loc[saved.rows["key"], "median_ms"].to_numpy()
    np.testing.assert_allclose(kept, saved.rows["median_ms"].to_numpy(), rtol=1e-5)


def test_unavailable_provider_is_an_error_not_a_fallback(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(DeviceUnavailableError, match="onnxruntime-gpu"):
        tablebuild.build_table(make_space("nb201", **TINY), resolve_device("cuda:0"), tables_dir=tmp_path)


def test_too_few_repeats_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="--repeats must be at least 5"):
        tablebuild.build_table(make_space("nb201", **TINY), resolve_device("cpu"), tables_dir=tmp_path, repeats=2)
    assert not list(tmp_path.rglob("*.csv"))


def test_validation_reports_metrics(tiny_table, tmp_path):
    space, table, tables = tiny_table
    result = calibrate.validate_and_calibrate(table, table_path("cpu", space, tables), resolve_device("cpu"), n=15,
                                              repeats=8)
    raw = result["raw"]
    assert raw["n"] == 15 and 0 <= raw["within_10pct"] <= 1 and -1 <= raw["spearman"] <= 1
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
        raw = table.space.cost_many(x, table.cost_arrays(calibrated=False)) - table.meta["overhead_ms"]
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


def test_a_table_from_another_machine_warns_with_the_profile_command(tiny_table, tmp_path, caplog):
    space, table, tables = tiny_table
    assert load_table_for("cpu", space, tables_dir=tables).profiled_here()
    other = LatencyTable.load(table_path("cpu", space, tables))
    other.meta["host"] = {**other.meta["host"], "cpu": "Some Other CPU"}
    other.save(table_path("cpu", space, tmp_path))
    with caplog.at_level("WARNING", logger="hwnas.table"):
        loaded = load_table_for("cpu", space, tables_dir=tmp_path)
    assert not loaded.profiled_here()
    assert "Some Other CPU" in caplog.text and "hwnas profile --device cpu --space nb201" in caplog.text


def _corrupt_copy(tiny_table, tmp_path, edit):
    space, _, tables = tiny_table
    src = table_path("cpu", space, tables)
    dst = table_path("cpu", space, tmp_path)
    dst.parent.mkdir(parents=True)
    dst.with_suffix(".json").write_text(src.with_suffix(".json").read_text())
    dst.write_text(edit(src.read_text()))
    return space, dst


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "abc", ""])
def test_a_corrupt_latency_is_refused_with_the_file_and_the_fix(tiny_table, tmp_path, value):
    def edit(text):
        lines = text.splitlines()
        cells = lines[3].split(",")
        cells[7] = value  # latency_ms
        lines[3] = ",".join(cells)
        return "\n".join(lines) + "\n"

    space, path = _corrupt_copy(tiny_table, tmp_path, edit)
    before = path.read_text()
    with pytest.raises(CorruptTableError, match=rf"{path}.*line 4.*Rebuild it with: hwnas profile --device cpu "
                                                r"--space nb201 .*--tables-dir .* --force"):
        load_table_for("cpu", space, tables_dir=tmp_path)
    assert path.read_text() == before  # nothing rewritten


def test_a_table_cut_mid_row_is_refused_and_profile_does_not_resume_over_it(tiny_table, tmp_path):
    def cut(text):  # five whole lines, then half of the sixth: its latency is gone
        lines = text.splitlines()
        return "\n".join(lines[:5] + [",".join(lines[5].split(",")[:6])]) + "\n"

    space, path = _corrupt_copy(tiny_table, tmp_path, cut)
    with pytest.raises(CorruptTableError, match="missing"):
        load_table_for("cpu", space, tables_dir=tmp_path)
    with pytest.raises(CorruptTableError, match="--force"):
        tablebuild.build_table(space, resolve_device("cpu"), tables_dir=tmp_path, repeats=5)


def test_a_table_that_claims_completeness_but_lacks_rows_is_refused(tiny_table, tmp_path):
    space, path = _corrupt_copy(tiny_table, tmp_path, lambda text: "\n".join(text.splitlines()[:-3]) + "\n")
    with pytest.raises(MissingRowsError, match=r"lacks 3 row\(s\).*--tables-dir"):
        load_table_for("cpu", space, tables_dir=tmp_path)


def test_a_row_whose_key_does_not_match_its_columns_is_refused(tiny_table, tmp_path):
    space, path = _corrupt_copy(tiny_table, tmp_path, lambda text: text.replace("|c4-4|s1|8x8", "|c4-4|s1|9x9", 1))
    with pytest.raises(CorruptTableError, match="does not match its columns"):
        load_table_for("cpu", space, tables_dir=tmp_path)


def test_profile_will_not_mix_rows_of_two_machines(tiny_table, tmp_path):
    space, _, tables = tiny_table
    other = LatencyTable.load(table_path("cpu", space, tables))
    other.meta["host"] = {**other.meta["host"], "cpu": "Some Other CPU"}
    other.meta["complete"] = False
    other.save(table_path("cpu", space, tmp_path))
    with pytest.raises(ValueError, match="profiled on 'Some Other CPU'.*--force"):
        tablebuild.build_table(space, resolve_device("cpu"), tables_dir=tmp_path, repeats=5)


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


def test_the_printed_profile_command_names_the_device_and_folder_as_given(tmp_path):
    yaml = tmp_path / "my board.yaml"
    from hwnas.core.device import DEVICES_DIR

    text = (DEVICES_DIR / "cpu.yaml").read_text()
    yaml.write_text(text.replace("id: cpu", "id: myboard").replace("name: cpu", "name: my-board"))
    with pytest.raises(FileNotFoundError) as info:
        load_table_for(str(yaml), make_space("nb201", **TINY), tables_dir=tmp_path / "t")
    command = str(info.value).split("Build it with: ")[1]
    assert command.startswith(f"hwnas profile --device '{yaml}' --space nb201")
    assert command.endswith(f"--tables-dir {tmp_path / 't'}")
