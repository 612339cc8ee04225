"""The FBNet search space (Wu et al., 2019): one candidate block per layer, 22 layers.

Macro-architecture (the paper's Table 1, 224x224 input): a 3x3 conv stem to 16 channels with
stride 2, seven stages of searchable layers with widths 16, 24, 32, 64, 112, 184, 352 and
1, 4, 4, 4, 4, 4, 1 layers (the first layer of a stage carries its stride), a 1x1 conv to 1504
channels, global pooling and a linear classifier.

For small images, strides are removed from the earliest positions until the last feature map
is at least 4x4 (32x32 input keeps 3 of the 5 stride-2 positions; 8x8 keeps 1).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

from hwnas.spaces.ops import ClassifierHead, conv_bn_relu
from hwnas.spaces.settings import FBNetConfig
from hwnas.spaces.base import Piece
from hwnas.spaces.layers import Layer, LayerSpace, chain

# The candidate blocks, in the order of the reference code (their index encodes a layer's choice).
FBNET_OPS: Tuple[str, ...] = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
# (output channels, layers, stride of the first layer) per stage.
STAGES: Tuple[Tuple[int, int, int], ...] = ((16, 1, 1), (24, 4, 2), (32, 4, 2), (64, 4, 2), (112, 4, 1),
                                            (184, 4, 2), (352, 1, 1))
STEM_CHANNELS = 16
MIN_FINAL_SIZE = 4


class FBNetHead(nn.Module):
    """1x1 conv-BN-ReLU to the head width, global pooling, linear classifier."""

    def __init__(self, c_in: int, head_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = conv_bn_relu(c_in, head_channels, 1, 1)
        self.classifier = ClassifierHead(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.conv(x))


class FBNetSpace(LayerSpace):
    """The FBNet space at one configuration; defaults are the paper's ImageNet network."""

    name = "fbnet"
    Config = FBNetConfig

    def describe(self) -> List[Layer]:
        s = self.settings
        specs = [("stem", ("fbnet.stem",), STEM_CHANNELS, 2, None)]
        specs += [(f"stage{k + 1}.{i + 1}", FBNET_OPS, c, stride if i == 0 else 1, "layers")
                  for k, (c, n, stride) in enumerate(STAGES) for i in range(n)]
        specs.append(("head", ("fbnet.head",), s.num_classes, 1, None))
        return chain(specs, s.in_channels, s.input_size, MIN_FINAL_SIZE)

    def _fixed_builders(self) -> Dict[str, Callable[[Piece], nn.Module]]:
        head_channels = self.settings.head_channels
        return {
            "fbnet.stem": lambda p: conv_bn_relu(p.c_in, p.c_out, 3, p.stride),
            "fbnet.head": lambda p: FBNetHead(p.c_in, head_channels, p.c_out),
        }
