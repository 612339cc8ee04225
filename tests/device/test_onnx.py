import warnings

import numpy as np
import pytest
import torch
from torch import nn

from hwnas.device.spec import resolve_device
from hwnas.device.onnx import check_onnx, export_onnx, ort_session

CPU = resolve_device("cpu")


def conv_bn_relu(c_in: int = 3, c_out: int = 8) -> nn.Module:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
    module.train()
    with torch.no_grad():  # non-trivial BN statistics, so folding them is actually tested
        module(torch.randn(8, c_in, 6, 6) * 2 + 1)
    return module


def test_export_matches_pytorch_and_restores_mode():
    module = conv_bn_relu()
    x = torch.randn(2, 3, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no deprecation spam in normal use
        model = export_onnx(module, (x,))
        session = ort_session(model, CPU)
    check_onnx(model)
    assert module.training  # the previous mode is restored
    got = session.run(None, {"input": x.numpy()})[0]
    want = module.eval()(x).detach().numpy()
    assert np.abs(got - want).max() < 1e-4
    assert [o.name for o in session.get_outputs()] == ["output"]


def test_dynamic_batch_and_input_names():
    module = conv_bn_relu().eval()
    session = ort_session(export_onnx(module, (torch.zeros(1, 3, 6, 6),), dynamic_batch=True), CPU)
    for batch in (1, 3):
        x = torch.randn(batch, 3, 6, 6)
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == (batch, 8, 6, 6) and np.abs(got - module(x).detach().numpy()).max() < 1e-4

    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    two = ort_session(export_onnx(Add(), (torch.zeros(1, 2), torch.zeros(1, 2))), CPU)
    assert [i.name for i in two.get_inputs()] == ["input_0", "input_1"]


def test_check_onnx_rejects_garbage():
    with pytest.raises(ValueError, match="invalid"):
        check_onnx(b"not a model")
