import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from hwnas.core.counting import count_params
from hwnas.spaces.genotypes import PUBLISHED, GenotypeError, NB201Genotype
from hwnas.spaces import list_spaces, make_space
from hwnas.spaces.nb201 import live_edges

# Small configurations keep the suite fast; defaults are checked where it matters.
SMALL = {
    "darts": dict(init_channels=8, layers=5, input_size=16),
    "nb201": dict(init_channels=8, layers=1, input_size=16),
    "fbnet": dict(input_size=16, num_classes=10),
    "mbv3": dict(input_size=8, in_channels=1),
}


def fake_lookup(piece):
    return (zlib.crc32(piece.key.encode()) % 1000) / 100.0


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_encode_decode_round_trip_and_sampling(name):
    space = make_space(name, **SMALL[name])
    rng = np.random.default_rng(0)
    lower, upper = space.bounds
    for _ in range(20):
        g = space.sample(rng)
        x = space.encode(g)
        assert x.shape == lower.shape and np.all(x >= lower) and np.all(x <= upper)
        assert space.decode(x) == g
        y = rng.integers(lower, upper + 1)
        assert np.array_equal(space.encode(space.decode(y)), y)
    a = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    assert space.sample(np.random.default_rng(1)) != space.sample(np.random.default_rng(2))


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_bad_vectors_are_clear_errors(name):
    space = make_space(name, **SMALL[name])
    lower, upper = space.bounds
    with pytest.raises(GenotypeError, match="entries"):
        space.decode(lower[:-1])
    too_big = upper.copy()
    too_big[0] += 1
    with pytest.raises(GenotypeError, match="outside its range"):
        space.decode(too_big)


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_child_network_forward_backward(name):
    space = make_space(name, **SMALL[name])
    g = space.sample(np.random.default_rng(3))
    net = space.build(g)
    x = torch.randn(2, *space.input_shape)
    out = net(x)
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape == (2, space.config()["num_classes"])
    out.sum().backward()


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_vectorised_latency_equals_sum_over_pieces(name):
    space = make_space(name, **SMALL[name])
    rng = np.random.default_rng(0)
    genotypes = [space.sample(rng) for _ in range(30)]
    x = np.stack([space.encode(g) for g in genotypes])
    fast = space.costs(fake_lookup).many(x)
    slow = [sum(fake_lookup(p) for p in space.pieces(g)) for g in genotypes]
    np.testing.assert_allclose(fast, slow, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_all_pieces_cover_every_genotype_and_build(name):
    space = make_space(name, **SMALL[name])
    every = set(space.all_pieces())
    rng = np.random.default_rng(1)
    for _ in range(20):
        assert set(space.pieces(space.sample(rng))) <= every
    for piece in every:
        module, shapes = space.build_piece(piece)
        out = module.eval()(*[torch.randn(s) for s in shapes])
        assert out.shape[1] == piece.c_out or out.dim() == 2


def test_genotype_of_other_space_is_rejected():
    with pytest.raises(GenotypeError, match="darts space but the genotype is of space 'fbnet'"):
        make_space("darts").build(PUBLISHED["fbnet_a"])


def test_option_not_for_space():
    with pytest.raises(ValueError, match="--layers does not apply to the fbnet space"):
        make_space("fbnet", layers=3)
    with pytest.raises(ValueError, match="init-channels must be a positive integer"):
        make_space("darts", init_channels=0)


def test_darts_published_parameter_counts():
    # The DARTS paper's CIFAR-10 network (C=36, 20 cells): 3.3M parameters (auxiliary head excluded).
    space = make_space("darts")
    assert count_params(space.build(PUBLISHED["darts_v2"])) == 3_349_342
    with_aux = make_space("darts", auxiliary=True).build(PUBLISHED["darts_v2"])
    assert count_params(with_aux, include_aux=True) > count_params(with_aux) == 3_349_342


def test_darts_structure():
    space = make_space("darts")
    shapes = space.cell_shapes()
    assert [i for i, s in enumerate(shapes) if s.reduction] == [6, 13]
    assert [s.c for s in shapes][::7] == [36, 72, 144]
    assert shapes[-1].out_size == 8
    net = space.build(PUBLISHED["darts_v2"])
    assert net.stem[0].out_channels == 108


def test_darts_auxiliary_head_in_training_only():
    space = make_space("darts", init_channels=8, layers=6, auxiliary=True)
    net = space.build(PUBLISHED["darts_v1"])
    out = net.train()(torch.randn(2, 3, 32, 32))
    assert isinstance(out, tuple) and out[1].shape == (2, 10)
    assert net.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_darts_drop_path_changes_training_output_only():
    space = make_space("darts", init_channels=8, layers=3, input_size=8)
    net = space.build(PUBLISHED["darts_v2"])
    x = torch.randn(4, 3, 8, 8)
    net.eval()
    ref = net(x)
    net.drop_path_prob = 0.5
    assert torch.equal(net(x), ref)
    net.train()
    torch.manual_seed(0)
    a = net(x)
    net.drop_path_prob = 0.0
    torch.manual_seed(0)
    assert not torch.allclose(a, net(x))


def test_darts_imagenet_variant():
    space = make_space("darts", variant="imagenet", init_channels=48, layers=14, input_size=224, num_classes=1000)
    assert count_params(space.build(PUBLISHED["darts_v2"])) == 4_718_752  # the paper reports 4.7M


def test_fbnet_published_parameter_counts_and_strides():
    space = make_space("fbnet")
    assert len(space.choosing) == 22
    assert space.layers[-1].size == 7  # the head's input
    # The FBNet paper reports 4.3M for FBNet-A; FBNet-C (1984-channel head) is 5.57M here, 5.5M in the paper.
    assert round(count_params(space.build(PUBLISHED["fbnet_a"])) / 1e6, 1) == 4.3
    wide = make_space("fbnet", head_channels=1984)
    assert round(count_params(wide.build(PUBLISHED["fbnet_c"])) / 1e6, 1) == 5.6
    small = make_space("fbnet", input_size=32)
    assert small.layers[-1].size == 4 and small.layers[0].stride == 1


def test_fbnet_weights_saved_under_its_earlier_module_names_still_load():
    """FBNet networks and supernets were stem / layers.i / head before FBNet became a chain of
    layers; weights saved then load into today's chain, giving the same outputs."""
    space = make_space("fbnet", input_size=8, in_channels=1, num_classes=10)
    torch.manual_seed(0)
    for module in (space.build(PUBLISHED["fbnet_a"]).eval(), space.supernet()):
        last = len(module.layers) - 1
        earlier = {}
        for key, value in module.state_dict().items():
            i, rest = key.split(".", 2)[1:]
            name = "stem" if i == "0" else "head" if int(i) == last else f"layers.{int(i) - 1}"
            earlier[f"{name}.{rest}"] = value
        fresh = space.build(PUBLISHED["fbnet_a"]).eval() if module.training is False else space.supernet()
        fresh.load_state_dict(earlier)  # strict: every key must find its module
        for a, b in zip(fresh.state_dict().values(), module.state_dict().values()):
            assert torch.equal(a, b)


def test_nb201_extreme_parameter_counts():
    space = make_space("nb201")
    # The benchmark's published range for CIFAR-10: 73,306 to 1,531,546 parameters.
    smallest = NB201Genotype.from_ops(["none"] * 6)
    largest = NB201Genotype.from_ops(["nor_conv_3x3"] * 6)
    assert count_params(space.build(smallest)) == 73_306
    assert count_params(space.build(largest)) == 1_531_546


def test_nb201_parameter_counts_equal_benchmark(nb201_csv):
    df = pd.read_csv(nb201_csv, usecols=["arch_str", "params_cifar10", "params_cifar100"])
    space10, space100 = make_space("nb201"), make_space("nb201", num_classes=100)
    rows = df.sample(40, random_state=0)
    for arch, p10, p100 in rows.itertuples(index=False):
        g = NB201Genotype(arch)
        assert count_params(space10.build(g)) == p10, arch
        assert count_params(space100.build(g)) == p100, arch


@pytest.mark.parametrize("ops,live,expected", [
    # node 1 and node 2 do not reach node 3: only edge 0->3 is live
    (["nor_conv_3x3", "nor_conv_1x1", "none", "skip_connect", "none", "none"], [0, 0, 0, 1, 0, 0], lambda cell, x: x),
    # node 1's only input is none: the conv and the pool reading its zeros would add a constant shift
    # and zeros, and an exported x * 0 would cost time
    (["none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "nor_conv_1x1"], [0, 1, 0, 1, 0, 1],
     lambda cell, x: x + cell.edges["2_3"](cell.edges["0_2"](x))),
])
def test_nb201_edges_that_cannot_matter_do_not_run(ops, live, expected):
    """Neither the network, nor its ONNX export, nor the table runs them."""
    import onnx

    from hwnas.device.onnx import module_model

    assert live_edges(ops) == [bool(v) for v in live]
    space = make_space("nb201", init_channels=4, layers=1, input_size=8)
    torch.manual_seed(0)
    net = space.build(NB201Genotype.from_ops(ops)).eval()
    x = torch.randn(1, 4, 8, 8)
    assert torch.allclose(net.cells[0](x), expected(net.cells[0], x))
    graph = onnx.load_from_string(module_model(net, [(1, *space.input_shape)]).onnx).graph
    assert not [n for n in graph.node if n.op_type == "Mul"]
    pieces = [p.op for p in space.pieces(NB201Genotype.from_ops(ops))]
    assert "none" not in pieces
    convs = sum(v and op.startswith("nor_conv") for op, v in zip(ops, live))
    assert sum(p.startswith("nb201.conv") for p in pieces) == 3 * convs  # 3 stages of one cell


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_latency_extremes_beat_random_genotypes(name):
    space = make_space(name, **SMALL[name])
    best, worst = space.costs(fake_lookup).extremes()
    lo, hi = space.costs(fake_lookup).many(np.stack([best, worst]))
    rng = np.random.default_rng(0)
    lower, upper = space.bounds
    x = rng.integers(lower, upper + 1, size=(500, len(lower)))
    costs = space.costs(fake_lookup).many(x)
    assert lo <= costs.min() and hi >= costs.max()


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_params_many_equals_built_networks(name):
    space = make_space(name, **SMALL[name])
    rng = np.random.default_rng(5)
    genotypes = [space.sample(rng) for _ in range(8)]
    x = np.stack([space.encode(g) for g in genotypes])
    assert space.params.many(x).tolist() == [float(count_params(space.build(g))) for g in genotypes]


@pytest.mark.parametrize("name", ["darts", "nb201", "fbnet"])
def test_params_and_flops_from_pieces_equal_the_whole_network(name):
    from hwnas.core.counting import count_flops

    space = make_space(name, **SMALL[name])
    rng = np.random.default_rng(0)
    genotypes = [space.sample(rng) for _ in range(3)]
    x = np.stack([space.encode(g) for g in genotypes])
    np.testing.assert_array_equal(space.params.many(x), [count_params(space.build(g)) for g in genotypes])
    np.testing.assert_allclose(space.flops.many(x), [count_flops(space.build(g), space.input_shape) for g in genotypes])
