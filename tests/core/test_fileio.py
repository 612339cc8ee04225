import onnx
import torch
from torch import nn

from hwnas.device.onnx import export_onnx


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "m.onnx"
    path.parent.mkdir()
    path.write_bytes(b"old")
    model = export_onnx(nn.Conv2d(3, 8, 3, padding=1), (torch.zeros(1, 3, 6, 6),), path=path)
    assert path.read_bytes() == model and onnx.load(str(path)).graph.node
    assert [p.name for p in path.parent.iterdir()] == ["m.onnx"]
