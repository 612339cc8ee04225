"""``hwnas export --precision int8`` (and fp16): the network at that precision written, checked in
ONNX Runtime, and its test accuracy beside the fp32 network's."""

import onnx
import torch

from hwnas.cli import main
from hwnas.spaces import make_space
from hwnas.spaces.genotypes import load_genotype

GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"
TRAINED = ["--space", "nb201", "--init-channels", "8", "--layers", "1"]
NETWORK = [*TRAINED, "--input-size", "8", "--in-channels", "1"]  # digits


def test_an_int8_export_reports_its_accuracy_beside_fp32(tmp_path, capsys):
    genotype = tmp_path / "g.json"
    genotype.write_text('{"space": "nb201", "arch": "%s"}' % GENOTYPE)
    assert main(["train", str(genotype), *TRAINED, "--epochs", "2", "--limit", "300", "--batch-size", "32",
                 "--runs-dir", str(tmp_path / "runs"), "--name", "t"]) == 0
    weights = tmp_path / "runs" / "t" / "best.pt"
    capsys.readouterr()
    out = tmp_path / "net.int8.onnx"
    assert main(["export", str(genotype), *NETWORK, "--weights", str(weights), "--out", str(out),
                 "--precision", "int8", "--accuracy", "--limit", "300"]) == 0
    printed = capsys.readouterr().out
    assert "int8: ONNX Runtime's static QDQ quantization" in printed and "128 training images" in printed
    line = next(line for line in printed.splitlines() if line.startswith("test accuracy on"))
    assert "int8" in line and "fp32" in line and "agree on" in line
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)
    # weights from a training run bring its network options: none need repeating
    assert main(["export", str(genotype), "--weights", str(weights), "--out", str(tmp_path / "plain.onnx")]) == 0
    capsys.readouterr()
    # at fp16: the converted network, fp16 in and out, its accuracy beside fp32's
    half = tmp_path / "net.fp16.onnx"
    assert main(["export", str(genotype), *NETWORK, "--weights", str(weights), "--out", str(half),
                 "--precision", "fp16", "--accuracy", "--limit", "300"]) == 0
    printed = capsys.readouterr().out
    assert "fp16: onnxconverter-common's conversion" in printed
    line = next(line for line in printed.splitlines() if line.startswith("test accuracy on"))
    assert "fp16" in line and "fp32" in line and "agree on" in line
    assert onnx.load(str(half)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    # the same export at fp32 prints its accuracy alone; without --weights, --accuracy is refused in one line
    assert main(["export", str(genotype), *NETWORK, "--weights", str(weights), "--out", str(tmp_path / "net.onnx"),
                 "--accuracy", "--limit", "300"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("test accuracy on")
    assert main(["export", str(genotype), *NETWORK, "--out", str(tmp_path / "x.onnx"), "--accuracy"]) == 2
    assert "add --weights" in capsys.readouterr().err
    # data that does not fit the network (3 classes, digits has 10): one line saying what makes it fit
    three = make_space("nb201", init_channels=8, layers=1, input_size=8, in_channels=1, num_classes=3)
    torch.save(three.build(load_genotype(str(genotype))).state_dict(), tmp_path / "three.pt")
    assert main(["export", str(genotype), *NETWORK, "--num-classes", "3", "--weights", str(tmp_path / "three.pt"),
                 "--out", str(tmp_path / "y.onnx"), "--accuracy", "--limit", "30"]) == 2
    assert "--num-classes 10 (as it was trained)" in capsys.readouterr().err


def test_an_int8_export_measures_the_file_as_written(tmp_path, capsys):
    out = tmp_path / "net.int8.onnx"
    assert main(["export", "fbnet_a", "--out", str(out), "--input-size", "8", "--in-channels", "1",
                 "--precision", "int8", "--measure", "--tables-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "random data" in printed and "cpu-int8" in printed


def test_export_measures_on_a_device_of_a_larger_batch(tmp_path, capsys):
    """The device feeds batches of 4: the file is exported with a dynamic batch (checked at two
    sizes) rather than for batch 1, which could not take them; the hint names the device file."""
    device = tmp_path / "b4.yaml"
    device.write_text("name: cpu-batch4\nprovider: CPUExecutionProvider\nbatch_size: 4\n")
    out = tmp_path / "net.onnx"
    assert main(["export", "fbnet_a", "--input-size", "8", "--in-channels", "1", "--out", str(out), "--measure",
                 "--device", str(device), "--tables-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "at batch 1, 3" in printed and "measured on cpu-batch4" in printed
    assert f"hwnas profile --device {device}" in printed
    assert onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, free batch
