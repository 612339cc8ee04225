"""``--tensorboard``: a search's and a training's curves, written where the run lives."""

import pytest

from hwnas.cli import main

TINY = ["--space", "nb201", "--epochs", "2", "--limit", "200", "--batch-size", "32"]


def scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_search_and_training_curves_go_to_tensorboard(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="--tensorboard needs the tensorboard package (the dev extra has it)")
    runs = tmp_path / "runs"
    assert main(["search", *TINY, "--latency-budget", "0.1ms", "--no-measure", "--tensorboard", "--runs-dir",
                 str(runs), "--name", "s"]) == 0
    assert f"TensorBoard curves in {runs / 's'}" in capsys.readouterr().out
    curves = scalars(runs / "s")
    for tag in ("step/loss", "step/acc", "step/e_lat_ms", "epoch/val_acc", "epoch/alpha_entropy",
                "epoch/e_latency_ms", "epoch/e_params", "epoch/derived_latency_ms", "epoch/derived_params"):
        assert tag in curves, f"{tag} missing: {sorted(curves)}"
    assert len(curves["epoch/val_acc"]) == 2 and len(curves["step/loss"]) >= 2
    assert main(["train", str(runs / "s" / "genotype.json"), "--epochs", "2", "--limit", "200", "--batch-size", "32",
                 "--init-channels", "4", "--layers", "1", "--tensorboard", "--runs-dir", str(runs), "--name", "t"]) == 0
    curves = scalars(runs / "t")
    assert {"epoch/train_acc", "epoch/val_acc", "step/loss"} <= set(curves) and len(curves["epoch/val_acc"]) == 2
