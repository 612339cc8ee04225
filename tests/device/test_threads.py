"""Threads fitted to the machine's load: a busy core is left to its owner."""

import os

import pytest
import torch

import hwnas.device.threads as threads
from hwnas.device.threads import Load, ThreadGovernor, cores_free


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("others,free", [(0.0, 4), (0.2, 4), (0.3, 3), (1.0, 3), (1.3, 2), (9.0, 1)])
def test_cores_other_processes_keep_busy_are_left_to_them(others, free):
    assert cores_free(Load(others, 1.0), cores=4) == free
    assert cores_free(None, cores=4) == 4  # no load known (not Linux): every core


def test_given_threads_are_used_and_zero_leaves_pytorchs_own():
    assert ThreadGovernor(1).start() == 1 and torch.get_num_threads() == 1
    torch.set_num_threads(2)
    assert ThreadGovernor(0).start() == 2 and ThreadGovernor(0).update() == 2


def test_auto_threads_follow_the_load_epoch_by_epoch(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(threads, "sample_load", lambda seconds: Load(1.0, seconds))  # one core busy at start
    governor = ThreadGovernor(-1)
    assert governor.start() == max(1, cores - 1) == torch.get_num_threads()
    monkeypatch.setattr(governor._monitor, "stop", lambda: Load(0.0, 10.0))  # then the machine is free
    assert governor.update() == cores == torch.get_num_threads()


def test_the_command_line_takes_a_count_or_auto(tmp_path, capsys):
    from hwnas.cli.common import _threads

    assert _threads("auto") == -1 and _threads("3") == 3
    from hwnas.cli import main

    with pytest.raises(SystemExit):
        main(["search", "--threads", "0"])
    assert "expected auto or a number of threads from 1 to" in capsys.readouterr().err


def test_a_tick_refits_only_when_its_interval_has_passed(monkeypatch):
    monkeypatch.setattr(threads, "sample_load", lambda seconds: Load(0.0, seconds))
    governor = ThreadGovernor(-1, refit_s=3600)
    first = governor.start()
    monkeypatch.setattr(governor._monitor, "stop", lambda: Load(99.0, 1.0))  # everything busy now
    governor.tick()
    assert torch.get_num_threads() == first  # too soon: unchanged
    governor.refit_s = 0.0
    governor.tick()
    assert torch.get_num_threads() == 1
