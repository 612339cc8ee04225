"""The CIFAR-10 path end to end on a small subset of the real data: search, train, export."""

import json

import onnx

from hwnas.cli import main


def test_cifar10_search_train_export(cifar10_jpeg_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    data = ["--dataset", "cifar10", "--data-dir", str(cifar10_jpeg_dir), "--limit", "192"]
    # one search epoch on a small proxy, penalised with the shipped C=36, 20-cell CIFAR table
    assert main(["search", *data, "--epochs", "1", "--batch-size", "32", "--init-channels", "8", "--layers", "5",
                 "--latency-budget", "9ms", "--runs-dir", str(runs), "--name", "s"]) == 0
    result = json.loads((runs / "s" / "result.json").read_text())
    assert result["latency_ms"] <= 9.0
    genotype = str(runs / "s" / "genotype.json")
    assert main(["train", genotype, *data, "--epochs", "1", "--batch-size", "64", "--init-channels", "8",
                 "--layers", "5", "--runs-dir", str(runs), "--name", "t"]) == 0
    assert 0.0 <= json.loads((runs / "t" / "result.json").read_text())["test_acc"] <= 1.0
    out = tmp_path / "model.onnx"
    assert main(["export", genotype, "--out", str(out), "--weights", str(runs / "t" / "best.pt"),
                 "--init-channels", "8", "--layers", "5"]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    assert "max abs diff" in capsys.readouterr().out
