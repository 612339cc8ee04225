"""Progressive search: stages that keep the strongest candidates of every position."""

import pytest
import torch
from torch.utils.data import TensorDataset

from hwnas.core.data import make_loader
from hwnas.search.arch import Architecture
from hwnas.search.config import SearchConfig
from hwnas.search.searcher import Searcher
from hwnas.spaces import make_space
from hwnas.spaces.mixed import MixedOp
from hwnas.spaces.genotypes import NB201_OPS


def test_keeping_the_strongest_masks_the_rest_to_exactly_zero():
    arch = Architecture({"cell": (3, 5)})
    with torch.no_grad():
        arch.alphas["cell"].copy_(torch.tensor([[5.0, 4, 3, 2, 1], [1, 2, 3, 4, 5], [0, 9, 0, 8, 0]]))
    arch.keep_strongest(2)
    probs = arch.probs()["cell"]
    assert torch.equal(probs > 0, torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 1, 1], [0, 1, 0, 1, 0]], dtype=torch.bool))
    assert torch.allclose(probs.sum(-1), torch.ones(3)) and arch.candidates_kept() == 2
    for relax in ("gumbel", "gdas"):
        assert torch.all(arch.weights(relax)["cell"][probs == 0] == 0)
    arch.keep_strongest(3)  # a later stage never brings a dropped candidate back
    assert arch.candidates_kept() == 2


def test_a_dropped_candidate_is_not_computed():
    op = MixedOp(NB201_OPS, 4, 4, 1)
    called = []
    op.candidates[3].register_forward_hook(lambda *a: called.append(True))  # nor_conv_3x3
    op(torch.randn(1, 4, 5, 5), torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0]))
    assert not called


def test_a_progressive_search_shrinks_its_space_and_resumes_with_it(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g))
    proxy = make_space("nb201", init_channels=4, layers=1, input_size=8, in_channels=1)

    def searcher():
        cfg = SearchConfig(space="nb201", epochs=3, batch_size=8, progressive=[[1, 3], [2, 1]])
        return Searcher(cfg, proxy, proxy, data, data, tmp_path / "run", make_loader=make_loader)

    s = searcher()
    result = s.run()
    assert result.metrics["candidates"].tolist() == [3, 1, 1]
    assert (tmp_path / "run" / "config.json").read_text().count('"progressive"') == 1
    again = searcher()
    again.load_checkpoint()
    assert again.arch.candidates_kept() == 1 and torch.equal(again.arch.kept_cell, s.arch.kept_cell)


def test_a_deepening_stage_trains_a_deeper_proxy_on_the_same_schedule_and_resumes_with_it(tmp_path):
    from hwnas.pareto.oneshot import load_search_supernet

    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g))
    proxy = make_space("nb201", init_channels=4, layers=1, input_size=8, in_channels=1)

    def searcher(stages, name):
        cfg = SearchConfig(space="nb201", epochs=3, batch_size=8, progressive=stages)
        return Searcher(cfg, proxy, proxy, data, data, tmp_path / name, make_loader=make_loader)

    def mixed_ops(net):
        return sum(isinstance(m, MixedOp) for m in net.modules())

    plain = searcher([[1, 3]], "plain")
    deep = searcher([[1, 3, 2]], "deep")
    assert mixed_ops(deep.net) == mixed_ops(plain.net) == 3 * 6  # 3 stages x 1 cell x 6 edges
    plain.run()
    result = deep.run()
    assert mixed_ops(deep.net) == 2 * mixed_ops(plain.net)  # 2 cells per stage from epoch 1 on
    assert result.metrics["w_lr"].tolist() == pytest.approx([m["w_lr"] for m in plain.metrics])
    assert deep.w_opt.param_groups[0]["lr"] == pytest.approx(plain.w_opt.param_groups[0]["lr"])
    again = searcher([[1, 3, 2]], "deep")
    again.load_checkpoint()  # the checkpoint holds the deeper proxy's weights
    assert all(torch.equal(a, b) for a, b in zip(again.net.state_dict().values(), deep.net.state_dict().values()))
    _, net, _ = load_search_supernet(tmp_path / "deep")
    assert mixed_ops(net) == mixed_ops(deep.net)


@pytest.mark.parametrize("stages", [[[0, 2]], [[2, 2], [1, 1]], [[1, 2], [2, 3]], [[3, 2]], [[1, 0]], [[1, 2, 0]],
                                    [[1]], [[1, 2, 3, 4]]])
def test_stages_must_rise_in_epochs_and_fall_in_candidates(stages):
    with pytest.raises(ValueError, match=r"--progressive takes EPOCH:KEEP\[:LAYERS\] stages"):
        SearchConfig(epochs=3, progressive=stages).validate()


def test_the_command_line_refuses_a_malformed_schedule_in_one_line(tmp_path, capsys):
    from hwnas.cli import main

    assert main(["search", "--progressive", "2", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "EPOCH:KEEP[:LAYERS] stages separated by commas" in err[0]
