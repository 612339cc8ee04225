"""Networks as ONNX models: PyTorch modules exported, checked, and opened in ONNX Runtime here.

A :class:`Model` (ONNX bytes and input shapes) is what every stage hands the device layer to
measure; the models travel as bytes, so a target needs no PyTorch.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from hwnas.core import fileio
from hwnas.device.spec import DeviceSpec, DeviceUnavailableError

Inputs = Union[torch.Tensor, Tuple[torch.Tensor, ...]]
Shape = Tuple[int, ...]


@dataclass(frozen=True)
class Model:
    """An ONNX model and the full shapes (batch first) of its inputs: one thing to measure."""

    onnx: bytes
    shapes: Tuple[Shape, ...]


def module_model(module: nn.Module, shapes: Sequence[Shape], opset: int = 17) -> Model:
    """``module`` exported (eval mode) for inputs of ``shapes`` (batch dimension first)."""
    shapes = tuple(tuple(int(d) for d in s) for s in shapes)
    return Model(export_onnx(module, tuple(torch.zeros(s) for s in shapes), opset=opset), shapes)


def export_onnx(module: nn.Module, example_inputs: Inputs, path: Optional[Union[str, Path]] = None,
                opset: int = 17, dynamic_batch: bool = False, input_names: Optional[Sequence[str]] = None,
                output_names: Optional[Sequence[str]] = None) -> bytes:
    """Export ``module`` in eval mode; return the model bytes (and write ``path`` atomically).

    Uses torch's TorchScript-based exporter: about 50 ms for a small module where the
    torch.export-based one takes seconds, and profiling exports hundreds of modules.
    ``dynamic_batch`` makes dim 0 of every input and output dynamic. Inputs are named
    ``input`` (or ``input_0``, ``input_1``, ...), outputs ``output`` unless names are given.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"export_onnx needs a torch.nn.Module, got {type(module).__name__}")
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
        raise ValueError("example_inputs must be a tensor or a non-empty tuple of tensors")
    n = len(inputs)
    input_names = list(input_names or (["input"] if n == 1 else [f"input_{i}" for i in range(n)]))
    if len(input_names) != n:
        raise ValueError(f"{len(input_names)} input names for {n} example inputs; give one name per input")
    output_names = list(output_names or ["output"])
    dynamic_axes = {name: {0: "batch"} for name in input_names + output_names} if dynamic_batch else None
    was_training = module.training
    module.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # We choose the legacy exporter on purpose (speed); its deprecation notices are noise,
            # as is its note that a strided Slice is not constant-folded (harmless, and it repeats
            # for every DARTS piece). Other warnings, TracerWarning included, still show.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
            torch.onnx.export(module, inputs, buffer, dynamo=False, opset_version=opset,
                              input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                              do_constant_folding=True)
    finally:
        module.train(was_training)
    data = buffer.getvalue()
    if path is not None:
        fileio.write_bytes(path, data)
    return data


def check_onnx(model_bytes: bytes) -> None:
    """Run ``onnx.checker`` on the model; raise a ValueError that says what is wrong."""
    import onnx

    try:
        onnx.checker.check_model(onnx.load_from_string(model_bytes))
    except Exception as exc:  # onnx raises several types (DecodeError, ValidationError...): all mean invalid
        raise ValueError(f"the ONNX model is invalid ({type(exc).__name__}): {exc}") from None


def ort_session(model_bytes: bytes, device: DeviceSpec) -> Any:
    """An ``onnxruntime.InferenceSession`` in this process with the device's provider, threads and
    optimisation level; the provider is checked before and after the session starts, so a run
    never lands on the CPU silently."""
    from hwnas.device.agent.session import PrecisionUnsupported, ProviderMissing, open_session

    try:
        return open_session(model_bytes, device.settings())
    except PrecisionUnsupported as exc:
        raise DeviceUnavailableError(f"device {device.name!r}: {exc}") from None
    except ProviderMissing:
        device.check_available()  # raises with the install hint where the provider is missing
        raise DeviceUnavailableError(f"device {device.name!r}: ONNX Runtime could not start {device.provider}; "
                                     f"check the driver and libraries it needs") from None


def overhead_model(input_shape: Shape = (1, 1, 1, 1), opset: int = 17) -> Model:
    """A graph that does almost nothing, ``y = x + 0``: what ONNX Runtime costs per run.

    An Add, not an Identity: ONNX Runtime may treat an input passed straight through
    specially, while an Add runs one real kernel, as every timed operation does. The
    optimiser's no-op elimination keeps it, because its output is the graph's output.
    """
    from onnx import TensorProto, helper

    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    node = helper.make_node("Add", ["input", "zero"], ["output"])
    shape = list(input_shape)
    graph = helper.make_graph([node], "overhead", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)], [zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()
    return Model(model, (tuple(input_shape),))
