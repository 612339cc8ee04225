
import onnx
import torch
from torch import nn

from hwnas.profile.onnx_runtime import export_onnx


def conv_bn_relu(c_in: int = 3, c_out: int = 8) -> nn.Module:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
    module.train()
    with torch.no_grad():  # non-trivial BN statistics, so folding them is actually tested
        module(torch.randn(8, c_in, 6, 6) * 2 + 1)
    return module


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "m.onnx"
    path.parent.mkdir()
    path.write_bytes(b"old")
    model = export_onnx(conv_bn_relu(), (torch.zeros(1, 3, 6, 6),), path=path)
    assert path.read_bytes() == model and onnx.load(str(path)).graph.node
    assert [p.name for p in path.parent.iterdir()] == ["m.onnx"]
