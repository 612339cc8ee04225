"""ONNX export and ONNX Runtime sessions, shared by the profiler and the exporter.

Imports only :mod:`hwnas.core.fileio` from hwnas: the device argument is duck-typed (see :func:`ort_session`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from hwnas.core import fileio

Inputs = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


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


def ort_session(model_bytes: bytes, device: Any) -> Any:
    """An ``onnxruntime.InferenceSession`` with the device's provider, threads and optimisation level.

    ``device`` needs ``check_available()``, ``session_options()``, ``providers()`` and
    ``check_session(session)`` (as :class:`hwnas.core.device.DeviceSpec` has): the provider is
    checked before and after the session starts, so a run never lands on the CPU silently.
    """
    import onnxruntime as ort

    device.check_available()
    session = ort.InferenceSession(model_bytes, sess_options=device.session_options(),
                                   providers=device.providers())
    device.check_session(session)
    return session
