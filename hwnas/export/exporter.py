"""Export a network to ONNX and prove ONNX Runtime runs the same network.

The export is checked with ``onnx.checker``, then the same random input goes through PyTorch
and ONNX Runtime; the file is written only when their outputs agree within tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from hwnas.core import fileio
from hwnas.device.spec import DeviceSpec, resolve_device
from hwnas.device.onnx import check_onnx, export_onnx, ort_session


class ExportMismatchError(ValueError):
    """ONNX Runtime's output differs from PyTorch's beyond the tolerance."""


@dataclass
class ExportReport:
    path: Optional[str]
    opset: int
    dynamic_batch: bool
    batch_sizes_checked: List[int]
    max_abs_diff: float
    atol: float
    rtol: float
    size_bytes: int
    measured: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a state dict (or a checkpoint holding one under ``"model"``) saved with ``torch.save``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found")
    state = fileio.load_torch(path, map_location="cpu")
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not any(k.startswith("aux_head.") for k in model.state_dict()):
        # the auxiliary head only helps training; a deployed network leaves it out
        state = {k: v for k, v in state.items() if not k.startswith("aux_head.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # torch's first line names only the class; the next says what differs
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else "no details"
        raise ValueError(f"{path} does not fit this network (another genotype, or other network options than it was "
                         f"trained with? with no option given, they are read from its training run's config.json): "
                         f"{detail[:200]}") from None


def parity(model: nn.Module, model_bytes: bytes, input_shape: Tuple[int, ...], batch: int, device: DeviceSpec,
           seed: int = 0) -> Tuple[float, float]:
    """(max |ORT - PyTorch|, max |PyTorch|) on one seeded random batch."""
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort_session(model_bytes, device)
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != expected.shape:
        raise ExportMismatchError(f"ONNX Runtime returned shape {got.shape}, PyTorch {expected.shape}")
    return float(np.max(np.abs(got - expected))), float(np.max(np.abs(expected)))


def export_network(model: nn.Module, input_shape: Tuple[int, ...], path: Optional[str | Path] = None,
                   opset: int = 17, dynamic_batch: bool = False, batch_size: int = 1, atol: float = 1e-4,
                   rtol: float = 1e-3, device: Optional[DeviceSpec] = None) -> Tuple[bytes, ExportReport]:
    """Export ``model`` (eval mode) for inputs of ``input_shape`` (no batch dim) and verify it.

    Raises :class:`ExportMismatchError`, writing nothing, when any output differs by more than
    ``atol + rtol * max|output|``. With ``dynamic_batch`` the check runs at two batch sizes.
    """
    device = device or resolve_device("cpu")
    model.eval()
    example = torch.zeros(batch_size, *input_shape)
    model_bytes = export_onnx(model, (example,), opset=opset, dynamic_batch=dynamic_batch)
    check_onnx(model_bytes)
    batches = [batch_size, batch_size + 2] if dynamic_batch else [batch_size]
    worst = 0.0
    for batch in batches:
        diff, scale = parity(model, model_bytes, input_shape, batch, device)
        limit = atol + rtol * scale
        if diff > limit:
            raise ExportMismatchError(
                f"ONNX Runtime output differs from PyTorch by {diff:.3g} at batch {batch} (allowed {limit:.3g} = "
                f"atol {atol:g} + rtol {rtol:g} x max|output| {scale:.3g}); nothing was written. Try another "
                f"--opset, or report the network.")
        worst = max(worst, diff)
    if path is not None:
        fileio.write_bytes(path, model_bytes)
    report = ExportReport(path=str(path) if path else None, opset=opset, dynamic_batch=dynamic_batch,
                          batch_sizes_checked=batches, max_abs_diff=worst, atol=atol, rtol=rtol,
                          size_bytes=len(model_bytes))
    return model_bytes, report
