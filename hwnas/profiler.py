"""Timing ONNX graphs in ONNX Runtime the honest way: warm-up, many repeats, median and spread."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hwnas.device import DeviceSpec
from hwnas.onnx_utils import export_onnx, ort_session

Shape = Tuple[int, ...]


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    repeats: int

    @property
    def spread_ms(self) -> float:
        """p90 - p10: the noise of this measurement."""
        return self.p90_ms - self.p10_ms

    def to_dict(self) -> Dict[str, float]:
        return asdict(self)

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> "Timing":
        s = np.asarray(samples_ms, dtype=float)
        return cls(float(np.median(s)), float(np.percentile(s, 10)), float(np.percentile(s, 90)), float(s.mean()),
                   float(s.std()), int(len(s)))


def _bound_run(session, feeds: Dict[str, np.ndarray], device_type: str, device_id: int) -> Callable[[], None]:
    """A zero-argument runner with inputs and outputs pre-bound on the device.

    Plain ``session.run`` allocates every output and copies it into a new NumPy array, a cost
    that grows with the output and that a whole network pays once, not once per operation.
    Binding pre-allocated buffers times the operation alone, the same way for a piece and for
    a whole network.
    """
    import onnxruntime as ort

    outputs = session.run(None, feeds)
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, device_type, device_id))
    for meta, value in zip(session.get_outputs(), outputs):
        binding.bind_ortvalue_output(meta.name, ort.OrtValue.ortvalue_from_numpy(value, device_type, device_id))

    def run() -> None:
        session.run_with_iobinding(binding)

    return run


def time_session(session, feeds: Dict[str, np.ndarray], warmup: int = 10, repeats: int = 50,
                 min_time_s: float = 0.0, device_type: str = "cpu", device_id: int = 0) -> Timing:
    """Time one run at a time after ``warmup`` untimed runs (inputs and outputs pre-bound)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    run = _bound_run(session, feeds, device_type, device_id)
    for _ in range(warmup):
        run()
    samples: List[float] = []
    started = time.perf_counter()
    while len(samples) < repeats or (time.perf_counter() - started < min_time_s and len(samples) < 10 * repeats):
        t0 = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return Timing.from_samples(samples)


def random_feeds(session, shapes: Sequence[Shape], seed: int = 0) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = session.get_inputs()
    if len(inputs) != len(shapes):
        raise ValueError(f"the model takes {len(inputs)} inputs, {len(shapes)} shapes were given")
    return {i.name: rng.standard_normal(s).astype(np.float32) for i, s in zip(inputs, shapes)}


def time_model(model_bytes: bytes, input_shapes: Sequence[Shape], device: DeviceSpec, warmup: int = 10,
               repeats: int = 50, seed: int = 0) -> Timing:
    """Median latency (ms) of one ONNX model with the device's provider and settings."""
    session = ort_session(model_bytes, device)
    device_type, device_id = device.memory_location()
    return time_session(session, random_feeds(session, input_shapes, seed), warmup, repeats,
                        device_type=device_type, device_id=device_id)


def time_module(module: nn.Module, input_shapes: Sequence[Shape], device: DeviceSpec, opset: int = 17,
                warmup: int = 10, repeats: int = 50) -> Timing:
    """Export ``module`` to ONNX and time it (shapes include the batch dimension)."""
    example = tuple(torch.zeros(s) for s in input_shapes)
    return time_model(export_onnx(module, example, opset=opset), input_shapes, device, warmup, repeats)


def _tiny_graph() -> bytes:
    """A graph that does almost nothing (y = x + 0 on one float): the per-run cost of ORT itself."""
    import onnx
    from onnx import TensorProto, helper

    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    node = helper.make_node("Add", ["input", "zero"], ["output"])
    graph = helper.make_graph([node], "overhead", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 1, 1])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, 1])], [zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def measure_overhead(device: DeviceSpec, warmup: int = 20, repeats: int = 200) -> Timing:
    """The per-run overhead of ONNX Runtime on ``device`` (subtracted from each piece's timing)."""
    return time_model(_tiny_graph(), [(1, 1, 1, 1)], device, warmup, repeats)
