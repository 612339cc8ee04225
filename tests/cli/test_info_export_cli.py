import json

import numpy as np

from hwnas.cli import main
from hwnas.spaces.genotypes import save_genotype
from hwnas.spaces import make_space


def test_cli_info_json(capsys):
    assert main(["info", "darts_v2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == 3_349_342 and not info["params_include_aux"]
    assert info["flops"] > 500_000_000


def test_cli_info_auxiliary_and_table(capsys):
    assert main(["info", "darts_v1", "--auxiliary", "--init-channels", "8", "--layers", "5"]) == 0
    out = capsys.readouterr().out
    assert "auxiliary head included" in out and "FLOPs" in out


def test_cli_export(tmp_path, capsys):
    g = make_space("nb201").sample(np.random.default_rng(0))
    save_genotype(g, tmp_path / "g.json")
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "g.json"), "--out", str(out), "--init-channels", "8", "--layers", "1"]) == 0
    assert out.is_file() and "max abs diff" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["info", "no_such_net"]) == 2
    assert "published" in capsys.readouterr().err
    assert main(["info", "darts_v2", "--space", "fbnet"]) == 2
    assert "does not match" in capsys.readouterr().err


def test_cli_info_device_uses_shipped_table(capsys):
    assert main(["info", "darts_v2", "--device", "cpu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["device"] == "cpu" and 1.0 < info["latency_ms"] < 1000.0


def test_cli_info_device_without_table_names_profile_command(capsys, tmp_path):
    assert main(["info", "darts_v2", "--device", "cpu", "--init-channels", "10", "--tables-dir", str(tmp_path)]) == 2
    assert "hwnas profile --device cpu --space darts --init-channels 10" in capsys.readouterr().err


def test_cli_export_measure_beside_prediction(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", "fbnet_a", "--out", str(out), "--input-size", "8", "--in-channels", "1",
                 "--num-classes", "10", "--measure", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "measured on cpu" in text and "table predicts" in text


def test_export_mistakes_are_one_line_and_write_nothing(tmp_path, capsys):
    from hwnas.cli import main

    garbage = tmp_path / "weights.pt"
    garbage.write_text("these are not weights")
    assert main(["export", "fbnet_a", "--input-size", "32", "--weights", str(garbage),
                 "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{garbage} is not a readable torch checkpoint" in err[0]
    assert not (tmp_path / "m.onnx").exists()
    folder = tmp_path / "already-a-folder"
    folder.mkdir()
    assert main(["export", "fbnet_a", "--input-size", "32", "--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{folder} is a folder, not a file" in err[0]
    assert folder.is_dir() and not list(folder.iterdir())
