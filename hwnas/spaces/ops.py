"""The one registry of candidate operations.

Every candidate is built by a factory with the same signature,
``factory(c_in, c_out, stride, affine=True) -> nn.Module`` (DARTS' and NAS-Bench-201's also take
``copies``, see :func:`build_op`), so search spaces, the supernet, the profiler and the final
networks all build an operation the same way. The semantics follow
the papers' reference code: DARTS (Liu et al. 2019), NAS-Bench-201 (Dong & Yang 2020) and
FBNet (Wu et al. 2019). ``affine=False`` gives the parameter-free BatchNorm that DARTS uses
inside its supernet.
"""

from __future__ import annotations

import inspect
from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import nn

OpFactory = Callable[..., nn.Module]

OPS: Dict[str, OpFactory] = {}


def register(name: str) -> Callable[[OpFactory], OpFactory]:
    """Decorator adding a factory to :data:`OPS` under ``name`` (names are unique)."""

    def wrap(factory: OpFactory) -> OpFactory:
        if name in OPS:
            raise ValueError(f"operation {name!r} is registered twice")
        OPS[name] = factory
        return factory

    return wrap


def build_op(name: str, c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    """Build operation ``name``; an unknown name is an error listing the known ones.

    ``copies=m`` builds m independent copies side by side along the channels (m * c_in in,
    m * c_out out; input block j feeds only output block j), with grouped convolutions: one call
    runs m positions of a supernet that read the same input. Operations with parameters that
    take the option: DARTS' and NAS-Bench-201's.
    """
    try:
        factory = OPS[name]
    except KeyError:
        raise ValueError(f"unknown operation {name!r}; known operations: {', '.join(sorted(OPS))}") from None
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    if copies == 1:
        return factory(c_in, c_out, stride, affine=affine)
    if "copies" not in inspect.signature(factory).parameters:
        raise ValueError(f"operation {name!r} cannot be built as side-by-side copies")
    return factory(c_in, c_out, stride, affine=affine, copies=copies)


# ---------------------------------------------------------------------------------------------
# Building blocks


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that normalises a channels-last input of few channels in NCHW order.

    PyTorch's CPU kernel for channels-last BatchNorm vectorises over channels; with fewer than 16
    (partial channels: 4 of 16) it runs several times slower than on an NCHW copy, both ways,
    which made BatchNorm the largest cost of a partial-channel search step. The result is
    returned channels-last again, so the convolutions around it keep their faster layout.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.num_features < 16 and x.dim() == 4 and not x.is_contiguous() \
                and x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x.contiguous()).contiguous(memory_format=torch.channels_last)
        return super().forward(x)


class Zero(nn.Module):
    """The ``none`` operation: zeros of the output shape (keeps the graph's shape algebra)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_out, self.stride = c_out, stride
        self.expand = c_in != c_out  # decided here, so export traces no shape test

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.expand:
            x = x[:, :1].expand(-1, self.c_out, -1, -1)
        return x.mul(0.0)


class FactorizedReduce(nn.Module):
    """DARTS' stride-2 skip: two offset 1x1 stride-2 convolutions, concatenated, then BN.

    The offset branch is padded by one pixel so odd input sizes work too; for even sizes the
    padding is never sampled and the result equals the reference implementation.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True, copies: int = 1) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.copies = copies
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(copies * c_in, copies * c_out // 2, 1, stride=2, padding=0, groups=copies, bias=False)
        self.conv_2 = nn.Conv2d(copies * c_in, copies * c_out // 2, 1, stride=2, padding=0, groups=copies, bias=False)
        self.bn = BatchNorm2d(copies * c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        a, b = self.conv_1(x), self.conv_2(shifted)
        if self.copies == 1:
            return self.bn(torch.cat([a, b], dim=1))
        # each copy's two halves side by side, as one FactorizedReduce concatenates them
        both = torch.cat([a.unflatten(1, (self.copies, -1)), b.unflatten(1, (self.copies, -1))], dim=2).flatten(1, 2)
        if a.is_contiguous(memory_format=torch.channels_last):
            both = both.contiguous(memory_format=torch.channels_last)
        return self.bn(both)


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                 affine: bool = True, copies: int = 1) -> nn.Sequential:
    """ReLU -> Conv (no bias) -> BN, the DARTS/NAS-Bench-201 convolution unit."""
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(copies * c_in, copies * c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                  groups=copies, bias=False),
        BatchNorm2d(copies * c_out, affine=affine),
    )


def dil_conv(c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
             affine: bool = True, copies: int = 1) -> nn.Sequential:
    """ReLU -> depthwise (dilated) conv -> pointwise conv -> BN."""
    wide_in, wide_out = copies * c_in, copies * c_out
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(wide_in, wide_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=wide_in,
                  bias=False),
        nn.Conv2d(wide_in, wide_out, 1, groups=copies, bias=False),
        BatchNorm2d(wide_out, affine=affine),
    )


def sep_conv(c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True,
             copies: int = 1) -> nn.Sequential:
    """Two stacked depthwise-separable units (DARTS ``SepConv``); only the first is strided."""
    return nn.Sequential(
        *dil_conv(c_in, c_in, kernel, stride, padding, 1, affine, copies),
        *dil_conv(c_in, c_out, kernel, 1, padding, 1, affine, copies),
    )


def _pool(kind: str, c_in: int, c_out: int, stride: int, affine: bool, copies: int = 1) -> nn.Module:
    pool = (
        nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        if kind == "avg"
        else nn.MaxPool2d(3, stride=stride, padding=1)
    )
    if c_in == c_out:
        return pool
    # Pooling cannot change the channel count; a 1x1 unit first does (NAS-Bench-201 convention).
    return nn.Sequential(relu_conv_bn(c_in, c_out, 1, 1, 0, affine=affine, copies=copies), pool)


# ---------------------------------------------------------------------------------------------
# DARTS (Liu et al., 2019) candidates


@register("none")
def _none(c_in: int, c_out: int, stride: int, affine: bool = True) -> nn.Module:
    return Zero(c_in, c_out, stride)


@register("skip_connect")
def _skip_connect(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    if stride == 1:
        return relu_conv_bn(c_in, c_out, 1, 1, 0, affine=affine, copies=copies)
    return FactorizedReduce(c_in, c_out, affine=affine, copies=copies)


@register("max_pool_3x3")
def _max_pool_3x3(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return _pool("max", c_in, c_out, stride, affine, copies)


@register("avg_pool_3x3")
def _avg_pool_3x3(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return _pool("avg", c_in, c_out, stride, affine, copies)


@register("sep_conv_3x3")
def _sep_conv_3x3(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return sep_conv(c_in, c_out, 3, stride, 1, affine, copies)


@register("sep_conv_5x5")
def _sep_conv_5x5(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return sep_conv(c_in, c_out, 5, stride, 2, affine, copies)


@register("dil_conv_3x3")
def _dil_conv_3x3(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return dil_conv(c_in, c_out, 3, stride, 2, 2, affine, copies)


@register("dil_conv_5x5")
def _dil_conv_5x5(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return dil_conv(c_in, c_out, 5, stride, 4, 2, affine, copies)


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201 (Dong & Yang, 2020) candidates; `none`, `skip_connect` and `avg_pool_3x3` are
# shared with DARTS and have the same semantics.


@register("nor_conv_1x1")
def _nor_conv_1x1(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return relu_conv_bn(c_in, c_out, 1, stride, 0, affine=affine, copies=copies)


@register("nor_conv_3x3")
def _nor_conv_3x3(c_in: int, c_out: int, stride: int, affine: bool = True, copies: int = 1) -> nn.Module:
    return relu_conv_bn(c_in, c_out, 3, stride, 1, affine=affine, copies=copies)


# ---------------------------------------------------------------------------------------------
# FBNet (Wu et al., 2019) candidates


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle, so grouped 1x1 convolutions mix information."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1, relu: bool = True,
                 affine: bool = True) -> nn.Sequential:
    """Conv (no bias) -> BN (-> ReLU): the FBNet/MobileNetV2 unit."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        BatchNorm2d(c_out, affine=affine),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """FBNet's block: 1x1 (group) expand, channel shuffle, kxk depthwise, 1x1 (group) project.

    The residual is added when stride is 1 and the channel counts match.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expansion: int, groups: int = 1,
                 affine: bool = True) -> None:
        super().__init__()
        mid = c_in * expansion
        if groups > 1 and (c_in % groups or c_out % groups or mid % groups):
            raise ValueError(f"group convolution with {groups} groups needs channel counts divisible by it "
                             f"(c_in={c_in}, mid={mid}, c_out={c_out})")
        self.expand = conv_bn_relu(c_in, mid, 1, 1, groups=groups, affine=affine)
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.depthwise = conv_bn_relu(mid, mid, kernel, stride, groups=mid, affine=affine)
        self.project = conv_bn_relu(mid, c_out, 1, 1, groups=groups, relu=False, affine=affine)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.shuffle(self.expand(x))))
        return x + y if self.residual else y


def _register_fbnet_block(name: str, kernel: int, expansion: int, groups: int) -> None:
    def factory(c_in: int, c_out: int, stride: int, affine: bool = True) -> nn.Module:
        return InvertedResidual(c_in, c_out, stride, kernel, expansion, groups, affine)

    register(name)(factory)


for _kernel in (3, 5):
    for _expansion, _groups in ((1, 1), (1, 2), (3, 1), (6, 1)):
        _register_fbnet_block(f"k{_kernel}_e{_expansion}" + ("_g2" if _groups > 1 else ""), _kernel, _expansion, _groups)


@register("skip")
def _fbnet_skip(c_in: int, c_out: int, stride: int, affine: bool = True) -> nn.Module:
    # FBNet's "skip" is free only where shapes allow; elsewhere a 1x1 conv-BN-ReLU adapts them
    # (mobile-vision's Identity block).
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return conv_bn_relu(c_in, c_out, 1, stride, affine=affine)


# ---------------------------------------------------------------------------------------------
# MobileNetV3 / once-for-all blocks (Howard et al. 2019; Cai et al. 2020), and the fixed layers
# a space file can name


def _activation(name: str) -> nn.Module:
    return nn.Hardswish() if name == "hs" else nn.ReLU(inplace=False)


class SqueezeExcite(nn.Module):
    """Channel attention: global pooling, a 1x1 bottleneck (a quarter of the channels, at least
    8), and a hard-sigmoid gate on the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(8, channels // 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=False),
                                  nn.Conv2d(hidden, channels, 1), nn.Hardsigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class MBConv(nn.Module):
    """MobileNetV3's block: 1x1 expand (skipped at expansion 1), kxk depthwise, optional
    squeeze-excite, 1x1 project; residual when stride is 1 and the channels match."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expansion: int, se: bool, act: str,
                 affine: bool = True) -> None:
        super().__init__()
        mid = c_in * expansion
        layers: list[nn.Module] = []
        if expansion > 1:
            layers += [*conv_bn_relu(c_in, mid, 1, 1, relu=False, affine=affine), _activation(act)]
        layers += [*conv_bn_relu(mid, mid, kernel, stride, groups=mid, relu=False, affine=affine), _activation(act)]
        if se:
            layers.append(SqueezeExcite(mid))
        layers += list(conv_bn_relu(mid, c_out, 1, 1, relu=False, affine=affine))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def _register_mbconv(kernel: int, expansion: int, se: bool, act: str) -> None:
    def factory(c_in: int, c_out: int, stride: int, affine: bool = True) -> nn.Module:
        return MBConv(c_in, c_out, stride, kernel, expansion, se, act, affine)

    register(f"mb_k{kernel}_e{expansion}" + ("_se" if se else "") + ("_hs" if act == "hs" else ""))(factory)


for _kernel in (3, 5, 7):
    for _expansion in (1, 3, 4, 6):
        for _se in (False, True):
            for _act in ("relu", "hs"):
                _register_mbconv(_kernel, _expansion, _se, _act)


def _register_conv(kernel: int, act: str) -> None:
    def factory(c_in: int, c_out: int, stride: int, affine: bool = True) -> nn.Module:
        return nn.Sequential(*conv_bn_relu(c_in, c_out, kernel, stride, relu=False, affine=affine),
                             _activation(act))

    register(f"conv_{kernel}x{kernel}_bn_{act}")(factory)


for _kernel in (1, 3):
    for _act in ("relu", "hs"):
        _register_conv(_kernel, _act)


class ClassifierHead(nn.Module):
    """Global average pooling and a linear classifier, optionally after BN-ReLU (NAS-Bench-201)."""

    def __init__(self, c_in: int, num_classes: int, bn_relu: bool = False) -> None:
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=False)) if bn_relu else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.pre(x)), 1))


@register("classifier")
def _classifier(c_in: int, c_out: int, stride: int, affine: bool = True) -> nn.Module:
    return ClassifierHead(c_in, c_out)
