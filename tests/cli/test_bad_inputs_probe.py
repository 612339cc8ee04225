"""A probe of mistakes and faults, grouped by kind: each is refused with one line (exit 2) that
says what is wrong, never a "bug in hwnas" line, and nothing is written outside what the
command was asked to write."""

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hwnas.cli import main

TINY_SEARCH = ["--limit", "80", "--batch-size", "16", "--epochs", "1", "--init-channels", "4", "--layers", "3"]


def refused(capsys, argv, *words):
    """Run ``hwnas ARGV``; it must exit 2 and its last line must hold ``words``."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (code, err)
    assert err and "bug in hwnas" not in "\n".join(err) and "Traceback" not in "\n".join(err), err
    for word in words:
        assert word in err[-1], (word, err[-1])
    return err[-1]


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- run names stay inside the runs folder -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../escaped", "/abs/path", "", ".", "..", "a/b", ".hidden", " padded"])
@pytest.mark.parametrize("command", ["search", "train"])
def test_a_run_name_is_one_folder_inside_the_runs_folder(tmp_path, capsys, name, command):
    runs = tmp_path / "work" / "runs"
    extra = ["darts_v2"] if command == "train" else []
    refused(capsys, [command, *extra, "--runs-dir", str(runs), "--name", name, *TINY_SEARCH[:2]], "--name")
    assert files_under(tmp_path) == []  # not even the runs folder


def test_resume_and_overwrite_together_are_refused(tmp_path, capsys):
    refused(capsys, ["search", "--runs-dir", str(tmp_path), "--name", "r", "--resume", "--overwrite"],
            "--resume", "--overwrite")
    assert files_under(tmp_path) == []


# -- a run folder belongs to one live process ---------------------------------------------------------------------

def test_a_second_run_in_a_held_folder_is_refused_naming_the_owner(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from hwnas.runs import own_run_folder\n"
        f"with own_run_folder({str(tmp_path / 'r')!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for extra in ([], ["--overwrite"]):
            line = refused(capsys, ["search", "--runs-dir", str(tmp_path), "--name", "r", *TINY_SEARCH, *extra],
                           "in use by another hwnas run", f"PID {holder.pid}")
            assert "--name" in line
    finally:
        holder.kill()
        holder.wait()
    # its owner gone, the folder is free again (the system released the lock)
    from hwnas.runs import own_run_folder

    with own_run_folder(tmp_path / "r"):
        pass


def test_overwrite_moves_the_old_run_away_before_the_new_one_writes(tmp_path):
    from hwnas.runs import own_run_folder

    old = tmp_path / "r"
    old.mkdir()
    (old / "genotype.json").write_text("{}")
    (old / "config.json").write_text("{}")
    with own_run_folder(old, fresh=True) as folder:
        assert list(folder.iterdir()) == []  # nothing of the old run for the new one to mix with
    assert [p.name for p in tmp_path.iterdir() if p.name != ".r.lock"] == ["r"]


def test_overwrite_refuses_a_link_and_leaves_what_it_points_to(tmp_path):
    from hwnas.runs import own_run_folder

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("x")
    (tmp_path / "runs").mkdir()
    os.symlink(elsewhere, tmp_path / "runs" / "r")
    with pytest.raises(ValueError, match="is a link: --overwrite replaces a run folder"):
        with own_run_folder(tmp_path / "runs" / "r", fresh=True):
            pass
    assert (elsewhere / "keep.txt").read_text() == "x" and (tmp_path / "runs" / "r").is_symlink()


def test_no_cap_on_skips_is_still_minus_one():
    from hwnas.cli.parser import build_parser

    assert build_parser().parse_args(["search", "--max-skip", "-1"]).max_skip == -1


def test_a_fresh_run_into_a_used_folder_is_refused(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "genotype.json").write_text("{}")
    refused(capsys, ["search", "--runs-dir", str(tmp_path), "--name", "r", *TINY_SEARCH], "already holds",
            "--resume", "--overwrite")
    refused(capsys, ["train", "darts_v2", "--runs-dir", str(tmp_path), "--name", "r", "--limit", "80"],
            "already holds", "--overwrite")
    assert (tmp_path / "r" / "genotype.json").read_text() == "{}"


# -- numbers are checked where they enter -------------------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["search", "--latency-budget", "-1ms"], ["latency budget", "positive"]),
    (["search", "--latency-budget", "nanms"], ["cannot read latency"]),
    (["search", "--latency-budget", "0ms"], ["positive"]),
    (["search", "--param-budget", "-5k"], ["positive count"]),
    (["search", "--threads", str(4 * (os.cpu_count() or 1) + 1)], ["--threads", "cores"]),
    (["search", "--threads", "0"], ["--threads"]),
    (["search", "--seed", str(2**40)], ["--seed", "4294967295"]),
    (["search", "--seed", "-1"], ["--seed"]),
    (["search", "--epochs", "0"], ["--epochs"]),
    (["search", "--w-lr", "nan"], ["--w-lr"]),
    (["search", "--latency-weight", "-1"], ["--latency-weight"]),
    (["search", "--limit", "0"], ["--limit"]),
    (["train", "darts_v2", "--lr", "0"], ["--lr"]),
    (["train", "darts_v2", "--drop-path", "1"], ["--drop-path"]),
    (["train", "darts_v2", "--grad-clip", "inf"], ["--grad-clip"]),
    (["demo", "--budget-fraction", "1.5"], ["--budget-fraction", "(0, 1)"]),
    (["demo", "--budget-fraction", "nan"], ["--budget-fraction"]),
    (["demo", "--budget-fraction", "0"], ["--budget-fraction"]),
    (["export", "darts_v2", "--out", "m.onnx", "--opset", "3"], ["--opset", "[9, 20]"]),
    (["export", "darts_v2", "--out", "m.onnx", "--opset", "99"], ["--opset"]),
    (["export", "darts_v2", "--out", "m.onnx", "--atol", "-1"], ["--atol"]),
    (["export", "darts_v2", "--out", "m.onnx", "--rtol", "nan"], ["--rtol"]),
    (["pareto", "--space", "nb201", "--pop-size", "1"], ["--pop-size"]),
    (["profile", "--space", "nb201", "--warmup", "-1"], ["--warmup"]),
    (["profile", "--space", "nb201", "--validate", "-3"], ["--validate"]),
])
def test_numbers_out_of_range_are_refused_in_one_line(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    refused(capsys, argv, *words)
    assert files_under(tmp_path) == []


def test_a_latency_budget_below_every_network_is_refused_before_a_pareto_search(tmp_path, capsys):
    refused(capsys, ["pareto", "--space", "darts", "--objectives", "latency", "params", "--latency-budget",
                     "0.001ms", "--out", str(tmp_path / "front")], "no network of this space keeps it", "cheapest")
    assert not (tmp_path / "front").exists()


# -- files are checked for what they hold ---------------------------------------------------------------------------

def test_a_binary_genotype_file_is_named(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_bytes(bytes(range(256)))
    refused(capsys, ["export", str(path), "--out", str(tmp_path / "m.onnx")], str(path), "not a text file")


def test_a_genotype_nested_too_deep_is_named(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text("[" * 200_000)
    refused(capsys, ["export", str(path), "--out", str(tmp_path / "m.onnx")], str(path), "nests too deeply")


def test_a_concat_that_is_not_a_list_is_named(tmp_path, capsys):
    genotype = {"space": "darts", "normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["max_pool_3x3", 1]] * 8,
                "normal_concat": 5}
    refused(capsys, ["export", json.dumps(genotype), "--out", str(tmp_path / "m.onnx")], "normal_concat", "got 5")


@pytest.mark.parametrize("text, words", [
    ("name: x\n  provider: [CPU\n", ["not valid YAML at line 2"]),
    (bytes(range(256)), ["not a text file"]),
])
def test_a_broken_device_file_is_one_line(tmp_path, capsys, text, words):
    path = tmp_path / "d.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    refused(capsys, ["profile", "--space", "nb201", "--device", str(path), "--tables-dir", str(tmp_path / "t")],
            str(path), *words)
    assert not (tmp_path / "t").exists()


def test_an_output_under_a_file_is_named(tmp_path, capsys):
    (tmp_path / "afile.txt").write_text("x")
    refused(capsys, ["export", "darts_v2", "--out", str(tmp_path / "afile.txt" / "m.onnx")],
            "afile.txt is a file, not a folder")


@pytest.mark.parametrize("change, words", [
    (lambda f: f.assign(test_acc_cifar10=np.where(f.index == 7, 150.0, f["test_acc_cifar10"])), ["row 8", "150"]),
    (lambda f: f.assign(test_acc_cifar10=np.where(f.index == 3, -5.0, f["test_acc_cifar10"])), ["row 4", "-5"]),
    (lambda f: f.assign(params_cifar10=f["params_cifar10"].astype(object).where(f.index != 2, "many")), ["row 3"]),
    (lambda f: f.assign(latency_ms_raspi4=np.where(f.index == 0, np.nan, f["latency_ms_raspi4"])), ["row 1"]),
])
def test_benchmark_values_out_of_range_are_refused(nb201_csv, tmp_path, capsys, change, words):
    bad = tmp_path / "nb201.csv"
    change(pd.read_csv(nb201_csv)).to_csv(bad, index=False)
    refused(capsys, ["pareto", "--space", "nb201", "--benchmark", "nb201", "--benchmark-file", str(bad),
                     "--objectives", "error", "latency_raspi4", "params", "--evaluations", "40",
                     "--out", str(tmp_path / "front")], str(bad), *words)
    assert not (tmp_path / "front").exists()


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 10, b"arch_str,test_acc_cifar10\nnot-a-cell,90\n"])
def test_a_benchmark_file_that_is_no_table_is_named(tmp_path, capsys, content):
    bad = tmp_path / "nb201.csv"
    bad.write_bytes(content)
    refused(capsys, ["pareto", "--space", "nb201", "--benchmark", "nb201", "--benchmark-file", str(bad),
                     "--objectives", "error", "params", "--evaluations", "40", "--out", str(tmp_path / "f")], str(bad))


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "pareto.json").write_text("{not json"), ["pareto.json is not valid JSON"]),
    (lambda d: (d / "pareto.json").write_text('{"space": "darts"}'), ["objectives"]),
    (lambda d: (d / "pareto.csv").write_text("x,y\n1,2\n"), ["pareto.csv lacks"]),
    (lambda d: (d / "history.csv").unlink(), ["history.csv not found"]),
])
def test_plot_of_a_damaged_pareto_run_names_the_file(tmp_path, capsys, damage, words):
    out = tmp_path / "front"
    assert main(["pareto", "--space", "darts", "--objectives", "latency", "params", "flops", "--evaluations", "40",
                 "--pop-size", "10", "--out", str(out)]) == 0
    capsys.readouterr()
    damage(out)
    refused(capsys, ["plot", str(out)], *words)


# -- data sets -----------------------------------------------------------------------------------------------------

def _images(folder, n, mode="L", size=12):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    for i in range(n):
        shape = (size, size) if mode == "L" else (size, size, 3)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(folder / f"{i}.png")


def test_a_one_class_image_folder_is_refused(tmp_path):
    from hwnas.core.data import load_splits

    _images(tmp_path / "train" / "cat", 10)
    with pytest.raises(ValueError, match="one class folder"):
        load_splits("imagefolder", str(tmp_path))


def test_a_link_that_loops_is_refused(tmp_path):
    from hwnas.core.data import load_splits

    _images(tmp_path / "train" / "cat", 6)
    _images(tmp_path / "train" / "dog", 6)
    os.symlink(tmp_path / "train", tmp_path / "train" / "cat" / "loop")
    with pytest.raises(ValueError, match="a link that loops or repeats a folder"):
        load_splits("imagefolder", str(tmp_path))


def test_a_file_linked_into_two_classes_is_refused(tmp_path):
    from hwnas.core.data import load_splits

    _images(tmp_path / "train" / "cat", 6)
    _images(tmp_path / "train" / "dog", 6)
    os.symlink(tmp_path / "train" / "dog" / "0.png", tmp_path / "train" / "cat" / "also-a-dog.png")
    with pytest.raises(ValueError, match="are the same file"):
        load_splits("imagefolder", str(tmp_path))


@pytest.mark.parametrize("mode, channels", [("L", 1), ("RGB", 3)])
def test_image_folders_keep_their_channels(tmp_path, mode, channels):
    from hwnas.core.data import dataset_info, load_splits

    _images(tmp_path / "train" / "a", 10, mode)
    _images(tmp_path / "train" / "b", 10, mode)
    assert dataset_info("imagefolder", str(tmp_path), 12).in_channels == channels
    splits = load_splits("imagefolder", str(tmp_path), image_size=12)
    x, _ = splits.train[0]
    assert tuple(x.shape) == (channels, 12, 12)


def test_sixteen_bit_grayscale_keeps_its_range(tmp_path):
    from PIL import Image

    from hwnas.core.image_folders import image_loader

    Image.fromarray(np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)).save(tmp_path / "wide.png")
    assert np.asarray(image_loader(str(tmp_path / "wide.png"), "L")).tolist() == [[0, 128], [255, 4]]


# -- what hwnas writes ---------------------------------------------------------------------------------------------

def test_written_files_follow_the_umask(tmp_path):
    from hwnas.core import fileio

    previous = os.umask(0o022)
    try:
        fileio.write_bytes(tmp_path / "m.onnx", b"x")
        assert (tmp_path / "m.onnx").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        fileio.write_bytes(tmp_path / "private.onnx", b"x")
        assert (tmp_path / "private.onnx").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


def test_a_full_disk_says_so_and_keeps_the_old_file(tmp_path, monkeypatch):
    from hwnas.core import fileio

    fileio.write_text(tmp_path / "config.json", "old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="no space left on the device writing .*config.json.*unchanged"):
        fileio.save_torch(tmp_path / "config.json", {"a": 1})
    assert (tmp_path / "config.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left



def test_a_search_without_a_table_says_latency_unknown_never_nan(tmp_path, capsys):
    assert main(["search", "--runs-dir", str(tmp_path), "--name", "r", *TINY_SEARCH, "--final-init-channels", "6",
                 "--final-layers", "3", "--tables-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    first, last = out.out.strip().splitlines()[0], out.out.strip().splitlines()[-1]
    assert first.startswith("latency unknown") and "hwnas profile --device cpu --space darts" in first
    assert last.startswith("latency unknown")
    assert "nan" not in (out.out + out.err).lower().replace("nana", "")
    result = json.loads((tmp_path / "r" / "result.json").read_text())
    assert result["latency"].startswith("unknown: no latency table") and result["latency_ms"] is None


# -- latency tables are checked against themselves ---------------------------------------------------------------

SHIPPED = "darts-c36-l20-s32-in3-n10"


def _copy_shipped(tmp_path, name=SHIPPED, as_name=None):
    import shutil

    from hwnas.table import SHIPPED_TABLES

    folder = tmp_path / "tables" / "cpu"
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".csv", ".json"):
        shutil.copy(SHIPPED_TABLES / "cpu" / f"{name}{suffix}", folder / f"{as_name or name}{suffix}")
    return folder / f"{as_name or name}.csv"


@pytest.mark.parametrize("edit, words", [
    (lambda f: f.rename(columns={"latency_ms": "median_ms", "median_ms": "latency_ms"}), ["out of order"]),
    (lambda f: f.assign(latency_ms=f["latency_ms"] * 1000, median_ms=f["median_ms"] * 1000,
                        p10_ms=f["p10_ms"] * 1000, p90_ms=f["p90_ms"] * 1000), ["rows were changed"]),
    (lambda f: f.assign(latency_ms=np.where(f.index == 5, f["latency_ms"] * 3, f["latency_ms"])), ["rows were changed"]),
])
def test_a_table_whose_rows_contradict_its_sidecar_is_refused(tmp_path, capsys, edit, words):
    path = _copy_shipped(tmp_path)
    edit(pd.read_csv(path)).to_csv(path, index=False)
    refused(capsys, ["info", "darts_v2", "--device", "cpu", "--tables-dir", str(tmp_path / "tables")], str(path),
            *words, "hwnas profile")


def test_a_table_copied_under_another_name_is_refused(tmp_path, capsys):
    path = _copy_shipped(tmp_path, as_name="nb201-c16-l5-s32-in3-n10")
    genotype = json.dumps({"space": "nb201", "arch": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|"
                                                     "skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"})
    refused(capsys, ["info", genotype, "--device", "cpu", "--tables-dir", str(tmp_path / "tables")],
            str(path), f"holds the table of {SHIPPED}", "remove the copy")


# -- resuming says what to type --------------------------------------------------------------------------------------

def test_a_training_resume_takes_the_runs_settings_and_names_a_flag_that_differs(tmp_path, capsys):
    cell = json.dumps({"space": "nb201", "arch": "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|"
                                                 "skip_connect~1|nor_conv_1x1~2|"})
    common = ["--runs-dir", str(tmp_path), "--name", "t", "--limit", "60", "--batch-size", "16", "--threads", "1",
              "--init-channels", "4", "--layers", "1"]
    assert main(["train", cell, *common, "--epochs", "1", "--lr", "0.05"]) == 0
    capsys.readouterr()
    line = refused(capsys, ["train", cell, *common, "--resume", "--lr", "0.1"], "--lr sets lr to 0.1",
                   "(the run has 0.05)")
    assert "--epochs" not in line  # left out: the run's own
    refused(capsys, ["train", cell, *common, "--resume", "--epoch", "3"], "unrecognized arguments: --epoch")
    # no need to repeat --epochs 1 --lr 0.05; how it runs (threads) is the command line's
    assert main(["train", cell, *common, "--resume", "--threads", "2"]) == 0
    assert "resuming" in capsys.readouterr().out


def test_an_interrupted_profile_says_how_to_continue(tmp_path, capsys, monkeypatch):
    import hwnas.profile.build as build

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "open_target", interrupted)
    argv = ["profile", "--space", "nb201", "--init-channels", "4", "--layers", "1", "--input-size", "8",
            "--tables-dir", str(tmp_path)]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted" in err[0] and "hwnas profile --space nb201 --init-channels 4" in err[0]


def test_a_hand_edited_config_is_named_not_a_flag(tmp_path, capsys):
    common = ["--runs-dir", str(tmp_path), "--name", "r", *TINY_SEARCH]
    assert main(["search", *common]) == 0
    config = tmp_path / "r" / "config.json"
    settings = json.loads(config.read_text())
    settings["search"]["w_lr"] = 0.5
    config.write_text(json.dumps(settings))
    capsys.readouterr()
    refused(capsys, ["search", "--resume", "--runs-dir", str(tmp_path), "--name", "r"], "w_lr: 0.025 saved, 0.5 now",
            "edited by hand")
