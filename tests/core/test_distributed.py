"""Data parallelism: gradients of the global batch, identical ranks, a 2-process search beside 1 process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hwnas.core.distributed import ALONE, World

WORKER = Path(__file__).with_name("ddp_worker.py")


def torchrun(*args, nproc=2, timeout=240):
    """``torchrun --standalone --nproc_per_node N`` (a free port on this machine)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_alone_does_nothing():
    x = torch.arange(6)
    assert ALONE.shard(x)[0] is x
    assert ALONE.sum([1.0, 2.0]) == [1.0, 2.0]
    assert ALONE.broadcast({"a": 1}) == {"a": 1}
    assert not ALONE.parallel and ALONE.is_main


def test_shards_are_contiguous_slices_that_cover_the_batch():
    x = torch.arange(5)
    parts = [World(rank=r, size=2).shard(x)[0].tolist() for r in range(2)]
    assert parts == [[0, 1, 2], [3, 4]]


def test_a_global_batch_too_small_for_the_ranks_is_one_clear_error():
    with pytest.raises(ValueError, match="global batch, split over 4 processes; give at least 8"):
        World(rank=0, size=4).check_batch(6)


def test_averaged_gradients_equal_the_whole_batch_gradient_on_unequal_slices(tmp_path):
    torchrun(WORKER, "grads", tmp_path)
    for rank in range(2):
        got = torch.load(tmp_path / f"grads{rank}.pt")
        for averaged, whole in zip(got["averaged"], got["whole"]):
            torch.testing.assert_close(averaged, whole, rtol=1e-5, atol=1e-7)


def test_two_process_search_keeps_ranks_identical_and_matches_one_process(tmp_path):
    torchrun(WORKER, "search", tmp_path)
    (tmp_path / "alone").mkdir()
    subprocess.run([sys.executable, str(WORKER), "search-alone", str(tmp_path / "alone")], check=True, timeout=240,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    r0, r1 = (torch.load(tmp_path / f"search{r}.pt") for r in range(2))
    alone = torch.load(tmp_path / "alone" / "searchalone.pt")
    # every rank holds bit-identical weights and architecture
    for key in r0["alphas"]:
        assert torch.equal(r0["alphas"][key], r1["alphas"][key])
    for key in r0["weights"]:
        assert torch.equal(r0["weights"][key], r1["weights"][key]), key
    assert r1["genotype"] is None  # rank 0 alone finishes the run
    # against one process on the same global batch: the same run up to float rounding
    assert r0["genotype"] == alone["genotype"]
    assert r0["val_acc"] == alone["val_acc"]
    for key in r0["alphas"]:
        torch.testing.assert_close(r0["alphas"][key], alone["alphas"][key], rtol=0, atol=1e-5)
    for key in r0["weights"]:
        torch.testing.assert_close(r0["weights"][key].float(), alone["weights"][key].float(), rtol=1e-4, atol=1e-5)
    # the files: config.json records the world size; only rank 0 wrote
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert (tmp_path / "run" / "genotype.json").is_file()


def test_a_stop_on_one_rank_stops_all_and_the_resumed_run_ends_as_an_uninterrupted_one(tmp_path):
    torchrun(WORKER, "search-interrupted", tmp_path / "stopped")
    torchrun(WORKER, "search", tmp_path / "straight")
    stopped, straight = (torch.load(tmp_path / run / "search0.pt") for run in ("stopped", "straight"))
    assert stopped["genotype"] == straight["genotype"]
    assert stopped["val_acc"] == straight["val_acc"]
    for key in straight["alphas"]:
        torch.testing.assert_close(stopped["alphas"][key], straight["alphas"][key], rtol=0, atol=1e-6)


def test_two_process_training_stops_and_resumes_like_an_uninterrupted_run(tmp_path):
    torchrun(WORKER, "train-interrupted", tmp_path / "stopped")
    torchrun(WORKER, "train", tmp_path / "straight")
    stopped, straight = (torch.load(tmp_path / run / "train0.pt") for run in ("stopped", "straight"))
    assert stopped["metrics"] == straight["metrics"]
    for key, value in straight["weights"].items():  # rank 0's: the best epoch's weights, which it tests
        torch.testing.assert_close(stopped["weights"][key], value, rtol=0, atol=1e-6)
    # every rank holds the same network: rank 1's last weights are those rank 0 saved in last.pt
    last = torch.load(tmp_path / "straight" / "run" / "last.pt", weights_only=True)["model"]
    other = torch.load(tmp_path / "straight" / "train1.pt")["weights"]
    for key, value in last.items():
        assert torch.equal(other[key], value), key
