import pytest
import torch

from hwnas.spaces.genotypes import DARTS_OPS, NB201_OPS
from hwnas.spaces.fbnet import FBNET_OPS
from hwnas.spaces.ops import OPS, build_op

ALL_OPS = sorted(set(OPS) - {"classifier"})  # every operation that keeps an image an image


def test_every_vocabulary_op_is_registered():
    for name in (*DARTS_OPS, *NB201_OPS, *FBNET_OPS):
        assert name in OPS


@pytest.mark.parametrize("name", ALL_OPS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("c_in,c_out", [(8, 8), (8, 16)])
def test_shape_and_backward(name, stride, c_in, c_out):
    op = build_op(name, c_in, c_out, stride)
    x = torch.randn(2, c_in, 9, 9, requires_grad=True)  # odd size: padding must hold up
    y = op(x)
    assert y.shape == (2, c_out, (9 + stride - 1) // stride, (9 + stride - 1) // stride)
    y.square().sum().backward()
    if name != "none":
        assert x.grad is not None and torch.isfinite(x.grad).all()


def test_the_classifier_gives_one_score_per_class():
    y = build_op("classifier", 8, 10, 1)(torch.randn(2, 8, 4, 4))
    assert y.shape == (2, 10)


def test_unknown_op_and_bad_stride():
    with pytest.raises(ValueError, match="known operations"):
        build_op("conv_9x9", 4, 4, 1)
    with pytest.raises(ValueError, match="stride"):
        build_op("sep_conv_3x3", 4, 4, 3)


def test_darts_semantics():
    # SepConv: two depthwise-separable units, each ReLU-dw-pw-BN.
    sep = build_op("sep_conv_3x3", 16, 16, 1)
    assert sum(p.numel() for p in sep.parameters()) == 2 * (16 * 9 + 16 * 16 + 2 * 16)
    dil = build_op("dil_conv_5x5", 16, 16, 1)
    assert dil[1].dilation == (2, 2) and dil[1].kernel_size == (5, 5)
    assert isinstance(build_op("skip_connect", 16, 16, 1), torch.nn.Identity)
    fr = build_op("skip_connect", 16, 16, 2)
    assert type(fr).__name__ == "FactorizedReduce"
    # none is zero, in the strided output shape
    z = build_op("none", 4, 4, 2)(torch.randn(1, 4, 8, 8))
    assert z.shape == (1, 4, 4, 4) and not z.any()


def test_factorized_reduce_matches_reference_on_even_input():
    fr = build_op("skip_connect", 6, 8, 2).eval()
    x = torch.randn(1, 6, 8, 8)
    r = torch.relu(x)
    ref = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(r[:, :, 1:, 1:])], dim=1))
    assert torch.allclose(fr(x), ref)


def test_nb201_conv_is_relu_conv_bn_without_bias():
    op = build_op("nor_conv_3x3", 16, 16, 1)
    assert [type(m).__name__ for m in op] == ["ReLU", "Conv2d", "BatchNorm2d"]
    assert op[1].bias is None
    assert sum(p.numel() for p in op.parameters()) == 16 * 16 * 9 + 2 * 16


def test_fbnet_block_structure():
    block = build_op("k5_e6", 16, 16, 1)
    assert block.residual
    assert block.expand[0].out_channels == 96 and block.depthwise[0].kernel_size == (5, 5)
    assert block.depthwise[0].groups == 96
    assert not build_op("k3_e3", 16, 24, 2).residual
    grouped = build_op("k3_e1_g2", 16, 16, 1)
    assert grouped.expand[0].groups == 2 and grouped.project[0].groups == 2
    assert type(grouped.shuffle).__name__ == "ChannelShuffle"
    # channel shuffle is a permutation of channels
    x = torch.arange(8.0).reshape(1, 8, 1, 1)
    assert sorted(grouped.shuffle(x).flatten().tolist()) == list(range(8))
    assert grouped.shuffle(x).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert isinstance(build_op("skip", 16, 16, 1), torch.nn.Identity)
    assert not isinstance(build_op("skip", 16, 24, 2), torch.nn.Identity)


def test_affine_false_has_no_bn_parameters():
    op = build_op("nor_conv_1x1", 4, 4, 1, affine=False)
    assert sum(p.numel() for p in op.parameters()) == 16


@pytest.mark.parametrize("channels", [4, 16])
def test_batchnorm_of_few_channels_last_channels_matches_pytorchs(channels):
    from torch import nn

    from hwnas.spaces.ops import BatchNorm2d

    torch.manual_seed(0)
    x = torch.randn(8, channels, 6, 6).contiguous(memory_format=torch.channels_last)
    ours, theirs = BatchNorm2d(channels, affine=False), nn.BatchNorm2d(channels, affine=False)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = ours(a), theirs(b)
    grad = torch.randn_like(out)
    out.backward(grad)
    ref.backward(grad)
    assert out.is_contiguous(memory_format=torch.channels_last)  # the next convolution keeps its layout
    assert torch.allclose(out, ref, atol=1e-5) and torch.allclose(a.grad, b.grad, atol=1e-5)
    assert torch.allclose(ours.running_mean, theirs.running_mean) and torch.allclose(ours.running_var,
                                                                                     theirs.running_var)
