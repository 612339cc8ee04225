"""Partial channels (PC-DARTS) and edge normalisation."""

import numpy as np
import pytest
import torch

from hwnas.search.arch import Architecture
from hwnas.spaces import make_space
from hwnas.spaces.mixed import MixedOp, channel_shuffle
from hwnas.spaces.genotypes import DARTS_OPS, NB201_OPS


def test_a_partial_mixed_op_runs_a_quarter_of_the_channels_and_passes_the_rest():
    torch.manual_seed(0)
    full, part = MixedOp(NB201_OPS, 16, 16, 1), MixedOp(NB201_OPS, 16, 16, 1, partial=4)
    assert sum(p.numel() for p in part.parameters()) * 16 == pytest.approx(sum(p.numel() for p in full.parameters()), rel=0.01)
    x = torch.randn(2, 16, 6, 6)
    skip = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])  # skip_connect alone: the output is the input, shuffled
    assert torch.equal(part(x, skip), channel_shuffle(x, 4))
    w = torch.softmax(torch.randn(5), 0)
    out = part(x, w)
    # the three bypassing quarters are the input's own channels, shuffled into place
    unshuffled = channel_shuffle(out, 16 // 4)  # a shuffle of 4 groups is undone by one of 16 / 4
    assert torch.equal(unshuffled[:, 4:], x[:, 4:])


def test_a_reducing_partial_op_pools_the_bypass_to_the_output_size():
    op = MixedOp(DARTS_OPS, 8, 8, 2, bn_after_pool=True, partial=2)
    out = op(torch.randn(2, 8, 7, 7), torch.softmax(torch.randn(len(DARTS_OPS)), 0))
    assert out.shape == (2, 8, 4, 4)


def test_partial_channels_need_widths_it_divides():
    with pytest.raises(ValueError, match="divisible by 3"):
        MixedOp(NB201_OPS, 16, 16, 1, partial=3)
    with pytest.raises(ValueError, match="the fbnet space's layers change width"):
        make_space("fbnet", input_size=8).supernet(partial=2)


def test_edge_weights_are_a_softmax_over_each_nodes_edges():
    space = make_space("darts", init_channels=8, layers=3, input_size=8)
    arch = Architecture(space.arch_shapes(), edge_nodes=space.edge_nodes())
    with torch.no_grad():
        arch.betas["normal"].copy_(torch.randn(14))
    edges = arch.edge_weights()["normal"]
    nodes = np.array(space.edge_nodes()["normal"])
    for node in range(4):
        assert float(edges[nodes == node].sum().detach()) == pytest.approx(1.0)
    scaled = arch.probs()["normal"]
    plain = torch.softmax(arch.alphas["normal"], -1)
    assert torch.allclose(scaled, plain * edges[:, None])
    # derivation ranks edges by strongest operation x edge weight: a node's favoured edges win
    for favoured in ([1, 2], [0, 2], [0, 1]):
        with torch.no_grad():  # node 1's edges come from states 0, 1, 2 (positions 2, 3, 4)
            arch.betas["normal"][2:5] = torch.tensor([5.0 if src in favoured else -5.0 for src in range(3)])
        genotype = space.derive(arch.numpy_probs())
        assert sorted(src for _, src in genotype.normal[2:4]) == favoured


def test_a_partial_channel_search_runs_and_resumes_its_edge_weights(tmp_path):
    from torch.utils.data import TensorDataset

    from hwnas.core.data import make_loader
    from hwnas.search.config import SearchConfig
    from hwnas.search.searcher import Searcher

    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g))
    proxy = make_space("darts", init_channels=8, layers=3, input_size=8, in_channels=1)
    s = Searcher(SearchConfig(space="darts", epochs=1, batch_size=8, partial_channels=4), proxy, proxy, data, data,
                 tmp_path / "run", make_loader=make_loader)
    result = s.run()
    assert set(s.arch.betas) == {"normal", "reduce"} and any(float(b.detach().abs().sum()) > 0 for b in s.arch.betas.values())
    again = Searcher(SearchConfig(space="darts", epochs=1, batch_size=8, partial_channels=4), proxy, proxy, data,
                     data, tmp_path / "run", make_loader=make_loader)
    again.load_checkpoint()
    assert all(torch.equal(again.arch.betas[k], s.arch.betas[k]) for k in s.arch.betas)
    assert result.genotype.space == "darts"
