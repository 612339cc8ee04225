"""The GPU path: searching and training on CUDA, NCCL ranks, tables profiled with ONNX Runtime's
CUDA provider. Each test skips, saying why, on a machine without what it needs."""

import json
import os
import subprocess
import sys

import pytest
import torch

from hwnas.cli import main

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
COMMON = ["--dataset", "digits", "--limit", "400", "--epochs", "1", "--batch-size", "32"]


@needs_cuda
def test_search_then_train_on_cuda(tmp_path):
    assert main(["search", "--space", "nb201", "--torch-device", "cuda", "--runs-dir", str(tmp_path), "--name", "s",
                 "--no-measure", *COMMON]) == 0
    assert main(["train", str(tmp_path / "s" / "genotype.json"), "--torch-device", "cuda", "--runs-dir",
                 str(tmp_path), "--name", "t", *COMMON]) == 0
    assert 0.0 <= json.loads((tmp_path / "t" / "result.json").read_text())["test_acc"] <= 1.0


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL data parallelism needs 2 CUDA devices")
def test_torchrun_on_two_gpus_uses_nccl(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "hwnas",
           "search", "--space", "nb201", "--torch-device", "cuda", "--runs-dir", str(tmp_path), "--name", "s",
           "--no-measure", *COMMON]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "nccl"}


def _cuda_provider() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.skipif(not (torch.cuda.is_available() and _cuda_provider()),
                    reason="profiling cuda:0 needs a CUDA device and onnxruntime-gpu (CUDAExecutionProvider)")
def test_a_cuda_table_is_calibrated_and_a_search_keeps_its_budget_there(tmp_path):
    """What matters on a GPU: rows that are not 0 (only identities), the CUDA provider really
    used and recorded, the held-out error reported as on the CPU, a budget kept when measured."""
    from hwnas import api

    network = dict(input_size=8, in_channels=1, init_channels=4, layers=1)
    made = api.profile("nb201", "cuda:0", tables_dir=str(tmp_path), validate=30, **network)
    from hwnas.profile.build import FLOOR_MS

    timed = made.table.rows.loc[made.table.rows["repeats"] > 0, "latency_ms"]
    assert (timed >= FLOOR_MS).all() and (timed > FLOOR_MS).any()  # timed pieces are never free
    assert made.table.meta["device"]["provider"] == "CUDAExecutionProvider"  # sessions refuse to start without it
    assert made.table.meta["host"]["gpu"]["name"] and made.validation["calibrated_heldout"]["n"] > 0
    low, high = made.table.costs().range()
    found = api.search("nb201", latency_budget=low + 0.3 * (high - low), epochs=1, limit=400, batch_size=32,
                       device="cuda:0", torch_device="cuda", tables_dir=str(tmp_path), runs_dir=tmp_path / "runs",
                       name="s", final_init_channels=4, final_layers=1)
    assert found.measured is not None and found.measured.within


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_checkpoints_carry_the_gpus_random_state():
    """A resumed run on a GPU draws the same dropout, Gumbel noise and drop path as one that never stopped."""
    from hwnas.core.seeding import rng_state, set_rng_state

    torch.rand(1, device="cuda")  # a run that uses CUDA
    state = rng_state()
    assert "cuda" in state
    first = torch.rand(4, device="cuda")
    set_rng_state(state)
    assert torch.equal(torch.rand(4, device="cuda"), first)
