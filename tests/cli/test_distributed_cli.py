"""``torchrun ... hwnas search|train``: the README's data-parallel commands, on 2 CPU processes."""

import json
import os
import subprocess
import sys


def torchrun_hwnas(*args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "hwnas", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_torchrun_search_then_train_write_one_run_folder_each(tmp_path):
    common = ["--dataset", "digits", "--limit", "400", "--epochs", "1", "--batch-size", "32", "--runs-dir",
              str(tmp_path), "--threads", "1"]
    done = torchrun_hwnas("search", "--space", "nb201", "--name", "s", "--no-measure", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("data-parallel search: 2 processes (gloo), global batch 32") == 1  # rank 0 speaks
    assert done.stdout.count("search done") == 1
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert (tmp_path / "s" / "genotype.json").is_file()

    done = torchrun_hwnas("train", str(tmp_path / "s" / "genotype.json"), "--name", "t", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy") == 1
    assert json.loads((tmp_path / "t" / "config.json").read_text())["distributed"]["world_size"] == 2
    assert 0.0 <= json.loads((tmp_path / "t" / "result.json").read_text())["test_acc"] <= 1.0


def test_torchrun_refuses_a_global_batch_smaller_than_two_per_process(tmp_path):
    done = torchrun_hwnas("search", "--space", "nb201", "--dataset", "digits", "--limit", "200", "--batch-size", "3",
                          "--runs-dir", str(tmp_path), "--threads", "1")
    assert done.returncode != 0
    # a rank says it in one line (written whole, so two ranks' lines never run together), before
    # torchrun's own failure report; the other rank may be stopped before it says it too
    said = [f"hwnas search (rank {r}/2): error: --batch-size 3 is the global batch, split over 2 processes; give "
            f"at least 4 (2 per process)" for r in range(2)]
    lines = done.stderr.splitlines()
    assert lines[0] in said
    assert all(line in said for line in lines if line.startswith("hwnas search (rank"))
