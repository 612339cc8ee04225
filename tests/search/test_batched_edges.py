"""A DARTS supernet cell runs the edges out of each state as one batched mixed operation; it must
compute exactly what one mixed operation per edge computes."""

import pytest
import torch

from hwnas.spaces.genotypes import DARTS_OPS, DARTS_STEPS
from hwnas.spaces.darts_nets import CellShape, SearchCell, darts_edges
from hwnas.spaces.mixed import MixedOp


def _per_edge_ops(cell: SearchCell, c: int, reduction: bool, partial: int) -> list:
    """One mixed operation per edge, holding that edge's slice of the batched cell's weights."""
    ops = []
    for e, (_, src) in enumerate(darts_edges()):
        op = MixedOp(DARTS_OPS, c, c, 2 if reduction and src < 2 else 1, bn_after_pool=True, partial=partial)
        g = next(g for g, (_, rows, _) in enumerate(cell.plan) if e in rows)
        batched, rows = cell.groups[g], cell.plan[g][1]
        j, m = rows.index(e), len(rows)
        state = {}
        for name, value in batched.state_dict().items():
            i = int(name.split(".")[1])
            if batched.per_edge[i] and value.dim() > 0:
                value = value.chunk(m)[j]  # copies sit side by side along the first dimension
            state[name] = value
        op.load_state_dict(state)
        ops.append(op)
    return ops


def _per_edge_forward(cell: SearchCell, ops: list, s0, s1, weights):
    states = [cell.preprocess0(s0), cell.preprocess1(s1)]
    e = 0
    for node in range(DARTS_STEPS):
        total = None
        for src in range(node + 2):
            h = ops[e](states[src], weights[e])
            total = h if total is None else total + h
            e += 1
        states.append(total)
    return torch.cat(states[2:], dim=1)


@pytest.mark.parametrize("reduction,partial", [(False, 1), (False, 4), (True, 1), (True, 2)])
def test_a_batched_cell_equals_one_mixed_operation_per_edge(reduction, partial):
    torch.manual_seed(0)
    c = 8
    cell = SearchCell(CellShape(c, c, c, reduction, False, 8, 8), partial)
    for module in cell.modules():  # BatchNorm running statistics must differ per edge too
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
    ops = _per_edge_ops(cell, c, reduction, partial)
    s0, s1 = torch.randn(4, c, 8, 8), torch.randn(4, c, 8, 8)
    logits = torch.randn(14, len(DARTS_OPS))
    logits[3, 4:] = float("-inf")  # one edge with parameter-free candidates only
    logits[5] = float("-inf")
    logits[5, 0] = 0.0  # one edge of `none` alone
    results = []
    for run in (lambda w: cell(s0, s1, w), lambda w: _per_edge_forward(cell, ops, s0, s1, w)):
        weights = torch.softmax(logits, -1).requires_grad_()
        out = run(weights)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append((out.detach(), weights.grad))
    (out, grad), (expected, expected_grad) = results
    assert out.shape == expected.shape == (4, 4 * c, 4 if reduction else 8, 4 if reduction else 8)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(grad, expected_grad, rtol=1e-5, atol=1e-4)
    assert grad[5].abs().sum() == 0 and grad[3, :4].abs().sum() > 0

    # in eval mode too (running statistics: each edge's own)
    cell.eval()
    for op in ops:
        op.eval()
    weights = torch.softmax(logits, -1)
    assert torch.allclose(cell(s0, s1, weights), _per_edge_forward(cell, ops, s0, s1, weights), atol=1e-5)


def test_only_the_candidates_with_weights_are_copied_per_edge():
    cell = SearchCell(CellShape(16, 16, 16, True, False, 8, 8), partial=4)
    first = cell.groups[0]  # the four edges out of state 0, stride 2
    kinds = dict(zip(first.names, first.per_edge))
    assert kinds == {"none": False, "max_pool_3x3": False, "avg_pool_3x3": False, "skip_connect": True,
                     "sep_conv_3x3": True, "sep_conv_5x5": True, "dil_conv_3x3": True, "dil_conv_5x5": True}
    assert [(state, len(rows)) for state, rows, _ in cell.plan] == [(0, 4), (1, 4), (2, 3), (3, 2), (4, 1)]
    # at full width each edge runs alone
    assert [len(rows) for _, rows, _ in SearchCell(CellShape(16, 16, 16, True, False, 8, 8)).plan] == [1] * 14
    # four edges' worth of parameters, each edge's candidates 16 / 4 channels wide
    single = MixedOp(DARTS_OPS, 16, 16, 2, bn_after_pool=True, partial=4)
    assert sum(p.numel() for p in first.parameters()) == 4 * sum(p.numel() for p in single.parameters())


def test_split_channels_gives_the_gradient_in_the_inputs_layout():
    from hwnas.spaces.mixed import split_channels

    x = torch.randn(2, 8, 4, 4).contiguous(memory_format=torch.channels_last).requires_grad_()
    a, b = split_channels(x, (2, 6))
    assert torch.equal(a, x[:, :2]) and torch.equal(b, x[:, 2:])
    (a * 2).sum().backward()  # b unused: its block's gradient is zero
    expected = torch.zeros(2, 8, 4, 4)
    expected[:, :2] = 2
    assert torch.equal(x.grad, expected) and x.grad.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("name,stride", [("skip_connect", 2), ("sep_conv_3x3", 1), ("sep_conv_5x5", 2),
                                         ("dil_conv_3x3", 2), ("dil_conv_5x5", 1), ("nor_conv_1x1", 1),
                                         ("nor_conv_3x3", 2)])
def test_side_by_side_copies_equal_separate_operations(name, stride):
    from hwnas.spaces.ops import build_op

    torch.manual_seed(0)
    m, c = 3, 4
    wide = build_op(name, c, c, stride, copies=m)
    singles = [build_op(name, c, c, stride) for _ in range(m)]
    for j, op in enumerate(singles):
        op.load_state_dict({k: v.chunk(m)[j] if v.dim() else v for k, v in wide.state_dict().items()})
    x = torch.randn(2, c, 9, 9)  # odd: FactorizedReduce pads its offset branch
    assert torch.allclose(wide(torch.cat([x] * m, dim=1)), torch.cat([op(x) for op in singles], dim=1), atol=1e-5)


def test_operations_without_copies_say_so():
    from hwnas.spaces.ops import build_op

    with pytest.raises(ValueError, match="'k3_e1' cannot be built as side-by-side copies"):
        build_op("k3_e1", 8, 8, 1, copies=2)


def test_split_channels_passes_gradients_of_gradients():
    from hwnas.spaces.mixed import split_channels

    x = torch.randn(2, 6, 3, 3, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_()
    a, b = split_channels(x, (2, 4))
    (g,) = torch.autograd.grad((a ** 3).sum() + (b ** 2).sum(), x, create_graph=True)
    g.sum().backward()  # d/dx of (3a^2, 2b): 6a and 2
    assert torch.allclose(x.grad[:, :2], 6 * x.detach()[:, :2]) and torch.allclose(x.grad[:, 2:], torch.full_like(x[:, 2:], 2.0))


def test_gdas_searches_each_edge_alone():
    from hwnas.search.config import SearchConfig
    from hwnas.spaces import make_space

    space = make_space("darts", init_channels=8, layers=3, input_size=8)
    for relax, groups in (("softmax", 5), ("gumbel", 5), ("gdas", 14)):
        net = space.supernet(**SearchConfig(space="darts", relax=relax, partial_channels=4).supernet_options())
        assert len(net.cells[0].groups) == groups
