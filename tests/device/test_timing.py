
import pytest
import torch
from torch import nn

from hwnas.device import measure, module_model, resolve_device
from hwnas.device.agent.timing import Interleaved, Timing
from hwnas.device.onnx import Model, export_onnx, overhead_model

CPU = resolve_device("cpu")


def time_module(module, shapes, repeats):
    return measure(CPU, [module_model(module, shapes)], repeats=repeats, rounds=4).timings[0]


def test_measure_summary_and_plain_data():
    result = measure(CPU, [module_model(nn.Conv2d(8, 8, 3, padding=1), [(1, 8, 16, 16)])], repeats=24, rounds=4)
    timing = result.timings[0]
    assert timing.median_ms > 0 and timing.p10_ms <= timing.median_ms <= timing.p90_ms
    assert timing.repeats == 24
    assert Timing(**timing.to_dict()) == timing
    assert Interleaved.from_dict(result.to_dict()) == result


def test_bigger_op_is_slower_and_overhead_is_smaller():
    small = time_module(nn.Conv2d(1, 1, 3, padding=1), [(1, 1, 4, 4)], repeats=40)
    big = time_module(nn.Conv2d(64, 64, 3, padding=1), [(1, 64, 32, 32)], repeats=20)
    # ~75 MFLOP against ~150 FLOP: the big conv takes ~0.5 ms or more, the tiny one microseconds.
    assert big.median_ms > 5 * small.median_ms
    overhead = measure(CPU, [overhead_model()], repeats=200).timings[0]
    assert 0 < overhead.median_ms < big.median_ms / 5 and overhead.repeats == 200
    assert overhead.median_ms < 1.0  # a do-nothing run costs microseconds, not milliseconds


def test_overhead_graph_runs_at_other_shapes():
    timing = measure(CPU, [overhead_model((2, 3))], repeats=8).timings[0]
    assert timing.median_ms > 0 and timing.repeats == 8


def test_wrong_shape_count_is_refused():
    model = export_onnx(nn.ReLU(), (torch.zeros(1, 4),))
    assert measure(CPU, [Model(model, ((1, 4),))], repeats=4).timings[0].repeats == 4
    with pytest.raises(ValueError, match="takes 1 input"):
        measure(CPU, [Model(model, ((1, 4), (1, 4)))], repeats=4)


def test_interleaved_timing_gives_every_graph_its_runs_and_two_halves():
    from hwnas.device.agent.timing import time_interleaved

    calls = []
    runs = [lambda i=i: calls.append(i) for i in range(3)]
    result = time_interleaved(runs, repeats=8, rounds=4, warmup=2)
    assert [t.repeats for t in result.timings] == [8, 8, 8]
    assert all(a.repeats == 4 and b.repeats == 4 for a, b in result.halves)
    assert result.remeasure_diff().shape == (3,)
    # round-robin: graph 0's runs of round 1 come before graph 1's, and graph 2's before round 2
    first_round = calls[:3 * (2 + 2)]
    assert first_round == [0] * 4 + [1] * 4 + [2] * 4
    with pytest.raises(ValueError, match="at least 2 rounds"):
        time_interleaved(runs, repeats=3, rounds=4)


def test_the_headline_latency_is_the_tenth_percentile():
    timing = Timing.from_samples(list(range(1, 101)))
    assert timing.latency_ms == timing.p10_ms == pytest.approx(10.9) and timing.min_ms == 1




def test_a_measurement_stopped_half_way_leaves_nothing_for_the_next():
    def stopped():
        for _ in range(9):  # one whole batch is opened on the target, then the export stops
            yield module_model(nn.ReLU(), [(1, 4)])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure(CPU, stopped(), repeats=4)
    assert len(measure(CPU, [module_model(nn.ReLU(), [(1, 4)])], repeats=4).timings) == 1
