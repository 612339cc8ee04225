"""Precision is part of the device: int8 networks by ONNX Runtime's static QDQ quantization,
their own tables, and a clear refusal where hwnas cannot measure a precision."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from hwnas.device.onnx import module_model
from hwnas.device.precision import at_precision, random_batches
from hwnas.device.spec import DeviceSpec, resolve_device, with_precision


def test_a_device_at_a_precision_is_another_device_with_its_own_tables():
    fp32, int8 = resolve_device("cpu"), resolve_device("cpu@int8")
    assert (fp32.id, int8.id) == ("cpu", "cpu-int8") and int8.precision == "int8"
    assert "precision" not in fp32.to_dict()  # today's fp32 sidecars stay equal
    assert DeviceSpec.from_dict(int8.to_dict()) == int8
    assert resolve_device("devices/cpu.yaml@int8") == int8
    with pytest.raises(ValueError, match="after '@' must be one of fp32, fp16, int8"):
        resolve_device("cpu@int4")
    with pytest.raises(ValueError, match="field 'precision' must be one of"):
        DeviceSpec.from_dict({"name": "x", "provider": "CPUExecutionProvider", "precision": "bf16"})
    with pytest.raises(ValueError, match="int8 is measured on the CPU provider only"):
        resolve_device("cuda0@int8")
    assert resolve_device("cpu@fp16").id == "cpu-fp16"
    with pytest.raises(ValueError, match="fp16 is measured on the CPU and CUDA providers only"):
        DeviceSpec.from_dict({"name": "t", "provider": "TensorrtExecutionProvider", "precision": "fp16"})
    assert (with_precision("cpu", "int8"), with_precision("cpu@int8", "fp32"), with_precision("a@b/d.yaml", "int8")) \
        == ("cpu@int8", "cpu", "a@b/d.yaml@int8")


def test_int8_is_onnx_runtimes_static_qdq_quantization_and_stays_close():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    model = module_model(net, [(1, 3, 16, 16)])
    int8 = at_precision(model, "int8")
    ops = {n.op_type for n in onnx.load_from_string(int8.onnx).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and int8.shapes == model.shapes
    assert at_precision(model, "fp32") is model
    x = random_batches(model, count=1, seed=1)[0][0]
    run = lambda data: ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]  # noqa: E731
    fp32_out, int8_out = run(model.onnx), run(int8.onnx)
    assert fp32_out.shape == int8_out.shape
    assert np.max(np.abs(fp32_out - int8_out)) < 0.1 * np.max(np.abs(fp32_out)) + 1e-3


def test_fp16_converts_weights_inputs_and_outputs_and_stays_close():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 4)).eval()
    model = module_model(net, [(1, 3, 16, 16)])
    fp16 = at_precision(model, "fp16")
    graph = onnx.load_from_string(fp16.onnx).graph
    half = onnx.TensorProto.FLOAT16
    assert {t.data_type for t in graph.initializer} == {half}
    assert [v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)] == [half, half]
    assert at_precision(fp16, "fp16") is fp16  # an fp16 export runs as it is
    x = random_batches(model, count=1, seed=1)[0][0]
    out32 = ort.InferenceSession(model.onnx, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    out16 = ort.InferenceSession(fp16.onnx, providers=["CPUExecutionProvider"]).run(
        None, {"input": x.astype(np.float16)})[0]
    assert out16.dtype == np.float16 and np.max(np.abs(out32 - out16)) < 1e-2 * np.max(np.abs(out32)) + 1e-3


def test_fp16_where_the_provider_lacks_kernels_is_refused_in_one_line(capsys, tmp_path):
    """On a CPU without fp16 kernels (this one's ONNX Runtime has none) profiling at fp16 stops at
    the first piece that needs one, in one line; where it has them all, the table is made."""
    from hwnas.cli import main
    from hwnas.device.agent.session import FP32_FALLBACK

    add = module_model(nn.Sequential(nn.ReLU()), [(1, 4, 8, 8)])
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(at_precision(add, "fp16").onnx, sess_options=options, providers=["CPUExecutionProvider"])
    lacking = FP32_FALLBACK in (tmp_path / "optimized.onnx").read_bytes()
    code = main(["profile", "--space", "nb201", "--init-channels", "4", "--layers", "1", "--input-size", "8",
                 "--precision", "fp16", "--tables-dir", str(tmp_path), "--repeats", "10", "--validate", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    if code == 2:
        assert len(err) == 1 and "lacks fp16 kernels" in err[0] and "measure at fp32" in err[0]
        assert not list(tmp_path.rglob("*.csv"))
    else:
        meta = json.loads(next((tmp_path / "cpu-fp16").glob("nb201-*.json")).read_text())
        assert code == 0 and meta["quantization"]["tool"] == "onnxconverter_common.float16"
    assert code == 2 or not lacking  # a ReLU is among the pieces: without its kernel the profile stops


def test_an_int8_table_is_measured_on_quantized_pieces_and_kept_apart(tmp_path):
    from hwnas.cli import main

    common = ["profile", "--space", "nb201", "--init-channels", "4", "--layers", "1", "--input-size", "8",
              "--in-channels", "1", "--tables-dir", str(tmp_path), "--repeats", "10", "--validate", "0"]
    assert main([*common, "--precision", "int8"]) == 0
    assert main(common) == 0
    int8, fp32 = (next((tmp_path / folder).glob("nb201-*.json")) for folder in ("cpu-int8", "cpu"))
    meta = json.loads(int8.read_text())
    assert meta["precision"] == "int8" and meta["device"]["precision"] == "int8"
    assert meta["quantization"]["format"] == "QDQ" and meta["quantization"]["per_channel"] is True
    assert json.loads(fp32.read_text())["quantization"] is None
