import json

import pytest

from hwnas.spaces import make_space

SPACE = make_space("nb201", init_channels=4, layers=1, input_size=8)


def test_one_shot_reads_only_search_checkpoints_of_this_format(tmp_path):
    import torch

    from hwnas.pareto.oneshot import load_search_supernet

    (tmp_path / "config.json").write_text(json.dumps({"format_version": 1, "proxy": SPACE.config(), "search": {}}))
    torch.save({"format_version": 1, "supernet": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="checkpoint format 1, this hwnas reads 4"):
        load_search_supernet(tmp_path)
