import numpy as np
import pytest

import hwnas.profile.build as tablebuild
from hwnas.device.spec import DeviceUnavailableError, resolve_device
from hwnas.table import LatencyTable, load_table_for, table_path
from hwnas.spaces import make_space

TINY = dict(init_channels=4, layers=1, input_size=8)


def test_profile_tiny_space_end_to_end(tiny_table):
    space, table, tables = tiny_table
    assert table.meta["complete"] and len(table.rows) == len(space.all_pieces())
    assert (table.rows["latency_ms"] >= 0).all() and (table.rows["p10_ms"] <= table.rows["p90_ms"]).all()
    # a run of the empty graph costs about what a run of this tiny space's pieces does (4 channels,
    # 8x8): of that order, not above it by far (it was under it in all but one run, by 0.3%)
    assert 0 < table.overhead_ms == table.meta["overhead_ms"] < 2 * table.rows["median_ms"].max()
    assert table.meta["host"]["cores"] >= 1 and table.meta["device"]["provider"] == "CPUExecutionProvider"


def test_resume_keeps_measured_rows(tmp_path, monkeypatch):
    space = make_space("nb201", **TINY)
    device = resolve_device("cpu")
    real = tablebuild.piece_models
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args[1].key)
        if len(calls) == 6:  # in the second chunk of 4 pieces: the first chunk is kept
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tablebuild, "CHUNK", 4)
    monkeypatch.setattr(tablebuild, "piece_models", flaky)
    with pytest.raises(KeyboardInterrupt):
        tablebuild.build_table(space, device, tables_dir=tmp_path, warmup=1, repeats=5)
    saved = LatencyTable.load(table_path("cpu", space, tmp_path))
    assert len(saved.rows) == 4 and not saved.meta["complete"]
    with pytest.raises(ValueError, match="incomplete"):
        load_table_for("cpu", space, tables_dir=tmp_path)
    calls.clear()
    monkeypatch.setattr(tablebuild, "piece_models", real)
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


def test_profile_will_not_mix_rows_of_two_machines(tiny_table, tmp_path):
    space, _, tables = tiny_table
    other = LatencyTable.load(table_path("cpu", space, tables))
    other.meta["host"] = {**other.meta["host"], "cpu": "Some Other CPU"}
    other.meta["complete"] = False
    other.save(table_path("cpu", space, tmp_path))
    with pytest.raises(ValueError, match="profiled on Some Other CPU .*not on this target.*--force"):
        tablebuild.build_table(space, resolve_device("cpu"), tables_dir=tmp_path, repeats=5)


def _ops(model) -> list:
    import onnx

    return [n.op_type for n in onnx.load_from_string(model.onnx).graph.node]


def test_pieces_that_keep_their_shape_are_timed_between_neighbours():
    space = make_space("nb201", **TINY)
    pieces = {p.op: p for p in space.all_pieces() if p.size == 8}
    timed, baseline = tablebuild.piece_models(space, pieces["nb201.conv_3x3"], 1, 17)
    # the neighbours: a 1x1 conv before, one after, and the before's output joining the output
    assert _ops(baseline) == ["Conv", "Conv", "Add"]
    assert sorted(_ops(timed)) == sorted(_ops(baseline) + ["Conv"])  # the piece's Conv-BN, BN folded
    timed, baseline = tablebuild.piece_models(space, pieces["add"], 1, 17)
    assert sorted(_ops(timed)) == sorted(_ops(baseline) + ["Add"] * (pieces["add"].arity - 1))
    # a piece that changes the shape is timed alone; an identity is not timed
    timed, baseline = tablebuild.piece_models(space, pieces["nb201.reduction"], 1, 17)
    assert baseline is None and "Conv" in _ops(timed)
    assert tablebuild.piece_models(space, pieces["skip_connect"], 1, 17) == (None, None)
    timed, baseline = tablebuild.piece_models(space, pieces["nb201.conv_3x3"], 1, 17, context=False)
    assert baseline is None and _ops(timed) == ["Conv"]


def test_profile_will_not_mix_rows_of_two_protocols(tiny_table, tmp_path):
    space, _, tables = tiny_table
    alone = LatencyTable.load(table_path("cpu", space, tables))
    alone.meta["context"] = False
    alone.meta["complete"] = False
    alone.save(table_path("cpu", space, tmp_path))
    with pytest.raises(ValueError, match="timed alone, this run times them between neighbours.*--force"):
        tablebuild.build_table(space, resolve_device("cpu"), tables_dir=tmp_path, repeats=5)


def test_a_piece_that_runs_is_never_free_and_an_identity_is():
    """A piece whose time is lost in the baseline's noise keeps a floor (the calibration counts it
    as a piece that runs); only an identity, which exporters drop, costs 0."""
    from hwnas.device.agent.timing import Timing
    from hwnas.profile.build import FLOOR_MS, _piece_row
    from hwnas.spaces import Piece

    def timed(ms):
        return Timing(median_ms=ms, p10_ms=ms, p90_ms=ms, mean_ms=ms, std_ms=0.0, repeats=10, min_ms=ms)

    add = Piece("add", 8, 8, 1, 8, arity=2)
    assert _piece_row(add, timed(0.0100), timed(0.0102), 0.0)["latency_ms"] == FLOOR_MS > 0
    assert _piece_row(add, timed(0.0150), timed(0.0100), 0.0)["latency_ms"] == pytest.approx(0.005)
    assert _piece_row(Piece("skip_connect", 8, 8, 1, 8), None, None, 0.0)["latency_ms"] == 0.0
