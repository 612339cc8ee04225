"""ONNX export and ONNX Runtime sessions, shared by the profiler and the exporter."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

import torch
from torch import nn


def export_onnx(module: nn.Module, example_inputs: Tuple[torch.Tensor, ...], path: Optional[str | Path] = None,
                opset: int = 17, dynamic_batch: bool = False, input_names: Optional[Sequence[str]] = None,
                output_names: Optional[Sequence[str]] = None) -> bytes:
    """Export ``module`` in eval mode; return the model bytes (and write ``path`` atomically).

    Uses torch's TorchScript-based exporter: about 50 ms for a small module where the
    torch.export-based one takes seconds, and profiling exports hundreds of modules.
    """
    from hwnas import fileio

    n = len(example_inputs)
    input_names = list(input_names or (["input"] if n == 1 else [f"input_{i}" for i in range(n)]))
    output_names = list(output_names or ["output"])
    dynamic_axes = {name: {0: "batch"} for name in input_names + output_names} if dynamic_batch else None
    was_training = module.training
    module.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(module, tuple(example_inputs), buffer, dynamo=False, opset_version=opset,
                              input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                              do_constant_folding=True)
    finally:
        module.train(was_training)
    data = buffer.getvalue()
    if path is not None:
        fileio.write_bytes(path, data)
    return data


def check_onnx(model_bytes: bytes) -> None:
    """``onnx.checker`` on the model; a ValueError that says what is wrong."""
    import onnx

    try:
        onnx.checker.check_model(onnx.load_from_string(model_bytes))
    except Exception as exc:  # onnx raises several types; they all mean an invalid model
        raise ValueError(f"the exported ONNX model is invalid: {exc}") from None


def ort_session(model_bytes: bytes, device: Any):
    """An ONNX Runtime session with the device's provider, threads and graph optimisation level."""
    import onnxruntime as ort

    device.check_available()
    return ort.InferenceSession(model_bytes, sess_options=device.session_options(), providers=device.providers())
