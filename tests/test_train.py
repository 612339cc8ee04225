import pytest
import torch

from hwnas.spaces.genotypes import NB201Genotype
from hwnas.runs import Interrupted
from hwnas.train import TrainConfig, prepare_training

GENOTYPE = NB201Genotype("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")


def trainer(run_dir, **kw):
    cfg = TrainConfig(epochs=2, batch_size=32, limit=96, **kw)
    return prepare_training(GENOTYPE, cfg, run_dir, init_channels=4, layers=1)


def test_train_writes_checkpoints_that_load_weights_only(tmp_path):
    result = trainer(tmp_path / "a").run()
    assert 0.0 <= result.test_acc <= 1.0 and len(result.metrics) == 2
    for name in ("best.pt", "last.pt"):
        torch.load(tmp_path / "a" / name, weights_only=True)
    assert (tmp_path / "a" / "metrics.csv").is_file() and (tmp_path / "a" / "result.json").is_file()


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    full = trainer(tmp_path / "full")
    expected = full.run()
    cut = trainer(tmp_path / "cut")
    calls = []

    def stop_in_second_epoch(stats):
        calls.append(stats)
        if stats["epoch"] == 2:
            cut.stop.requested = True

    with pytest.raises(Interrupted, match="--resume"):
        cut.run(progress=stop_in_second_epoch)
    resumed = trainer(tmp_path / "cut")
    result = resumed.run(resume=True)
    assert result.test_acc == expected.test_acc
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_with_other_settings_is_refused(tmp_path):
    trainer(tmp_path).run()
    with pytest.raises(ValueError, match=r"differ from those .*last.pt was saved with \(lr: 0.025 saved, 0.1 now\)"):
        trainer(tmp_path, lr=0.1).run(resume=True)


def test_auxiliary_head_and_drop_path_train(tmp_path):
    from hwnas.spaces.genotypes import PUBLISHED

    cfg = TrainConfig(epochs=1, batch_size=32, limit=64, drop_path=0.2)
    t = prepare_training(PUBLISHED["darts_v2"], cfg, tmp_path, init_channels=8, layers=3, auxiliary=True)
    assert t.run().test_acc >= 0.0


def test_weights_trained_with_the_auxiliary_head_load_into_the_deployed_network(tmp_path):
    from hwnas.export.exporter import load_weights
    from hwnas.spaces.genotypes import PUBLISHED
    from hwnas.spaces import make_space

    cfg = TrainConfig(epochs=1, batch_size=32, limit=64)
    t = prepare_training(PUBLISHED["darts_v2"], cfg, tmp_path, init_channels=8, layers=3, auxiliary=True)
    t.run()
    deployed = make_space("darts", init_channels=8, layers=3, input_size=8, in_channels=1).build(PUBLISHED["darts_v2"])
    load_weights(deployed, tmp_path / "best.pt")
    trained = {k: v for k, v in t.model.state_dict().items() if not k.startswith("aux_head.")}
    best = torch.load(tmp_path / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(deployed.state_dict()[k], best[k]) for k in trained)


def test_cli_train_refuses_shape_options_the_data_decides(tmp_path, capsys):
    from hwnas.cli import main

    assert main(["train", "darts_v2", "--input-size", "32", "--runs-dir", str(tmp_path)]) == 2
    assert "the data set decides" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [("--batch-size", "0"), ("--epochs", "0")])
def test_train_refuses_nothing_to_do_in_one_line(tmp_path, capsys, flag, value):
    from hwnas.cli import main

    with pytest.raises(SystemExit) as refused:  # argparse refuses it before anything runs
        main(["train", "darts_v2", "--runs-dir", str(tmp_path), "--name", "t", flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert refused.value.code == 2 and f"argument {flag}: expected an integer in [1, inf], got '0'" in err[-1]
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_train_config_refuses_unknown_settings():
    from hwnas.train import TrainConfig

    assert TrainConfig.from_dict(TrainConfig(epochs=3).to_dict()) == TrainConfig(epochs=3)
    with pytest.raises(ValueError, match=r"unknown training setting\(s\) \['epochz'\]"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), "epochz": 3})


def test_an_epochs_training_metrics_are_those_of_its_batches(tmp_path, monkeypatch):
    """train_loss and train_acc of an epoch, computed again from the logits and labels of every batch."""
    import torch.nn.functional as F

    t = trainer(tmp_path)
    batches = []
    real = F.cross_entropy

    def recorded(logits, y, *args, **kwargs):  # the training loss of each batch, as the epoch computes it
        batches.append((logits.detach().clone(), y.clone()))
        return real(logits, y, *args, **kwargs)

    from hwnas.device.threads import ThreadGovernor

    monkeypatch.setattr(F, "cross_entropy", recorded)
    t.threads = ThreadGovernor(0)  # as run() sets it up
    metrics = t._train_epoch(None)
    n = sum(len(y) for _, y in batches)
    loss = sum(float(real(logits, y)) * len(y) for logits, y in batches) / n
    correct = sum(int((logits.argmax(1) == y).sum()) for logits, y in batches)
    assert len(batches) >= 2 and n > 32
    assert metrics["train_acc"] == pytest.approx(correct / n) and 0.0 <= metrics["train_acc"] <= 1.0
    assert metrics["train_loss"] == pytest.approx(loss, rel=1e-5)
