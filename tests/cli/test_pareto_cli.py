import json

import numpy as np
import pandas as pd
import pytest

from hwnas.cli import main
from hwnas.spaces.genotypes import PUBLISHED, genotype_from_dict, save_genotype
from hwnas.spaces import make_space


def test_cli_pareto_nb201_writes_csvs_and_plots(nb201_csv, tmp_path, capsys):
    out = tmp_path / "front"
    assert main(["pareto", "--space", "nb201", "--benchmark", "nb201", "--benchmark-file", str(nb201_csv),
                 "--objectives", "error", "latency_raspi4", "params", "--evaluations", "120", "--out", str(out)]) == 0
    for name in ("pareto.csv", "evaluated.csv", "history.csv", "pareto.json", "hypervolume.png", "hypervolume.svg",
                 "front_error_vs_latency_raspi4.png", "front_error_vs_params.svg"):
        assert (out / name).stat().st_size > 0, name
    front = pd.read_csv(out / "pareto.csv")
    assert {"error", "latency_raspi4", "params", "genotype"} <= set(front.columns)
    assert "Pareto front" in capsys.readouterr().out


def test_runs_of_different_spaces_are_refused(tmp_path, capsys):
    for name, genotype in (("a", PUBLISHED["darts_v2"]), ("b", PUBLISHED["fbnet_a"])):
        (tmp_path / name).mkdir()
        save_genotype(genotype, tmp_path / name / "genotype.json")
    assert main(["pareto", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "different spaces" in capsys.readouterr().err


def test_benchmark_needs_nb201_space(tmp_path, capsys):
    assert main(["pareto", "--space", "darts", "--benchmark", "nb201"]) == 2
    assert "needs the nb201 space" in capsys.readouterr().err


def test_cli_pareto_latency_and_flops_need_no_search_run(tmp_path, capsys):
    out = tmp_path / "front"
    assert main(["pareto", "--space", "darts", "--objectives", "latency", "flops", "--pop-size", "10",
                 "--evaluations", "30", "--out", str(out)]) == 0
    front = pd.read_csv(out / "pareto.csv")
    space = make_space("darts")
    x = np.stack([space.encode(genotype_from_dict(json.loads(g))) for g in front["genotype"]])
    np.testing.assert_allclose(front["flops"], space.flops.many(x))


@pytest.mark.parametrize("extra,match", [
    (["--objectives", "latency", "latency"], "two or more different"),
    (["--objectives", "latency", "flops", "--evaluations", "5"], "must be at least --pop-size"),
])
def test_pareto_refuses_settings_that_cannot_run(tmp_path, capsys, extra, match):
    from hwnas.cli import main

    code = main(["pareto", "--space", "darts", "--out", str(tmp_path / "p"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0]


@pytest.mark.parametrize("estimate", [None, "one-shot"])
def test_a_front_from_a_search_run_records_and_uses_its_error_estimate(tmp_path, capsys, estimate):
    runs = tmp_path / "runs"
    assert main(["search", "--space", "nb201", "--epochs", "1", "--limit", "200", "--batch-size", "32",
                 "--runs-dir", str(runs), "--name", "s"]) == 0
    flags = ["--error-estimate", estimate] if estimate else []
    assert main(["pareto", str(runs / "s"), "--objectives", "error", "params", "--pop-size", "10",
                 "--evaluations", "20", "--val-images", "64", "--out", str(tmp_path / "front"), *flags]) == 0
    meta = json.loads((tmp_path / "front" / "pareto.json").read_text())
    assert meta["error_estimate"] == (estimate or "naswot")
    errors = pd.read_csv(tmp_path / "front" / "evaluated.csv")["error"]
    if estimate == "one-shot":
        assert errors.between(0, 100).all()  # a percentage
    else:
        assert (errors < 0).all()  # minus a naswot score (the log-determinant of a kernel of counts)


def test_the_predictor_estimate_is_fitted_on_trained_runs(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["search", "--space", "nb201", "--epochs", "1", "--limit", "200", "--batch-size", "32",
                 "--runs-dir", str(runs), "--name", "s", "--threads", "1"]) == 0
    front = ["pareto", str(runs / "s"), "--objectives", "error", "params", "--pop-size", "8", "--evaluations", "16",
             "--error-estimate", "predictor", "--out", str(tmp_path / "front")]
    assert main(front) == 2  # nothing trained yet: one line that says what to give
    assert "give two or more training run folders" in capsys.readouterr().err
    cells = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
             "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|skip_connect~1|nor_conv_1x1~2|"]
    for i, cell in enumerate(cells):
        genotype = json.dumps({"space": "nb201", "arch": cell})
        assert main(["train", genotype, "--epochs", "1", "--limit", "200", "--runs-dir", str(runs), "--name", f"t{i}",
                     "--threads", "1"]) == 0
    capsys.readouterr()
    assert main([*front, "--trained", *(str(runs / f"t{i}") for i in range(3))]) == 0
    meta = json.loads((tmp_path / "front" / "pareto.json").read_text())
    assert meta["error_estimate"] == "predictor" and len(meta["trained"]) == 3
    # its quality on the user's genotypes (leave one out), beside the default estimate's, said and recorded
    quality = meta["predictor_quality"]
    assert quality["trained"] == 3 and quality["default_estimate"] == "naswot"
    assert all(v is None or -1 <= v <= 1 for v in (quality["kendall_tau_cv"], quality["default_kendall_tau"]))
    assert "predictor: " in capsys.readouterr().out
    trained = [json.loads((runs / f"t{i}" / "result.json").read_text())["test_acc"] * 100 for i in range(3)]
    errors = pd.read_csv(tmp_path / "front" / "evaluated.csv")["error"]
    # a random forest predicts within the range of what it was fitted on
    assert errors.between(100 - max(trained) - 1e-9, 100 - min(trained) + 1e-9).all()


def test_fp32_and_int8_latency_side_by_side_with_size_at_the_precision(tmp_path, capsys):
    """latency_fp32 and latency_int8 read the tables of the same device at each precision; size_mb
    counts the weights' bytes at the device's precision."""
    tables = ["--tables-dir", str(tmp_path / "tables")]  # the Pareto stage reads the space's default network's
    for precision in ("fp32", "int8"):
        assert main(["profile", "--space", "nb201", *tables, "--precision", precision, "--repeats", "10",
                     "--validate", "0"]) == 0
    out = tmp_path / "front"
    assert main(["pareto", "--space", "nb201", "--objectives", "latency_fp32", "latency_int8", "size_mb",
                 "--device", "cpu@int8", *tables, "--pop-size", "10", "--evaluations", "30", "--out", str(out)]) == 0
    front = pd.read_csv(out / "pareto.csv")
    space = make_space("nb201")
    x = np.stack([space.encode(genotype_from_dict(json.loads(g))) for g in front["genotype"]])
    np.testing.assert_allclose(front["size_mb"], space.params.many(x) / 1e6)  # int8: a byte per weight
    assert not np.allclose(front["latency_fp32"], front["latency_int8"])
    capsys.readouterr()
    assert main(["pareto", "--space", "darts", "--objectives", "latency_fp32", "latency_int8", "--device", "cpu",
                 *tables]) == 2
    assert "hwnas profile" in capsys.readouterr().err
