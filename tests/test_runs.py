"""Run folders: the config header, versioned checkpoints, stopping, Pareto files."""

import json

import pandas as pd
import pytest
import torch

from hwnas import __version__
from hwnas.runs import Interrupted, RunFolder, StopRequests, stoppable, write_pareto


def test_config_has_the_header_and_reads_back(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.write_config(search={"epochs": 3}, final={"space": "nb201"})
    config = folder.read_config()
    assert config["format_version"] == 1 and config["hwnas_version"] == __version__
    assert config["torch_version"] == torch.__version__
    assert config["search"] == {"epochs": 3} and config["final"] == {"space": "nb201"}


@pytest.mark.parametrize("text,match", [("{not json", "is not valid JSON"),
                                        ('{"format_version": 7}', "format 7"),
                                        ("[1, 2]", "format None")])
def test_a_damaged_or_foreign_config_is_refused_by_name(tmp_path, text, match):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        RunFolder(tmp_path).read_config("search run")
    assert str(tmp_path / "config.json") in str(err.value)


def test_a_folder_without_config_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="is .* a search run folder"):
        RunFolder(tmp_path).read_config("search run")


def test_checkpoints_carry_their_format_version(tmp_path):
    folder = RunFolder(tmp_path)
    folder.save_checkpoint("last.pt", 3, {"epoch": 2, "weights": torch.ones(2)})
    state = folder.load_checkpoint("last.pt", 3)
    assert state["format_version"] == 3 and state["epoch"] == 2 and torch.equal(state["weights"], torch.ones(2))
    with pytest.raises(ValueError, match="checkpoint format 3, this hwnas reads 4"):
        folder.load_checkpoint("last.pt", 4)
    with pytest.raises(FileNotFoundError, match="no training to resume: .*other.pt does not exist"):
        folder.load_checkpoint("other.pt", 3, what="training to resume")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "last.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match="cut.pt is not a readable torch checkpoint"):
        folder.load_checkpoint("cut.pt", 3)


def test_metrics_are_a_csv_of_epoch_rows(tmp_path):
    RunFolder(tmp_path).write_metrics([{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}])
    assert pd.read_csv(tmp_path / "metrics.csv").to_dict("list") == {"epoch": [1, 2], "loss": [2.0, 1.5]}


def test_a_stop_at_once_becomes_interrupted_with_the_way_on():
    with pytest.raises(Interrupted, match="continue with --resume"):
        with stoppable(StopRequests(), "stopped at once; continue with --resume"):
            raise KeyboardInterrupt
    with stoppable(StopRequests(), "unused") as stop:  # a clean block passes through untouched
        assert not stop.requested


def test_pareto_files(tmp_path):
    frames = {"pareto": pd.DataFrame({"error": [1.0]}), "history": pd.DataFrame({"generation": [1, 2]})}
    write_pareto(tmp_path, frames, space="nb201", objectives=["error", "params"])
    assert pd.read_csv(tmp_path / "history.csv")["generation"].tolist() == [1, 2]
    meta = json.loads((tmp_path / "pareto.json").read_text())
    assert meta == {"format_version": 1, "space": "nb201", "objectives": ["error", "params"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "pareto.csv", "pareto.json"]
