"""The FBNet search space (Wu et al., 2019): one candidate block per layer, 22 layers.

Macro-architecture (the paper's Table 1, 224x224 input): a 3x3 conv stem to 16 channels with
stride 2, seven stages of searchable layers with widths 16, 24, 32, 64, 112, 184, 352 and
1, 4, 4, 4, 4, 4, 1 layers (the first layer of a stage carries its stride), a 1x1 conv to 1504
channels, global pooling and a linear classifier.

For small images, strides are removed from the earliest positions until the last feature map
is at least 4x4 (32x32 input keeps 3 of the 5 stride-2 positions; 8x8 keeps 1).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hwnas.core.space_settings import FBNetConfig
from hwnas.core.genotype import FBNET_OPS, FBNetGenotype, Genotype, GenotypeError
from hwnas.core.ops import build_op, conv_bn_relu
from hwnas.spaces.base import ClassifierHead, Piece, SearchSpace, TorchCosts, conv_out, linear_cost
from hwnas.spaces.registry import register_space

# (output channels, layers, stride of the first layer) per stage.
STAGES: Tuple[Tuple[int, int, int], ...] = ((16, 1, 1), (24, 4, 2), (32, 4, 2), (64, 4, 2), (112, 4, 1),
                                            (184, 4, 2), (352, 1, 1))
STEM_CHANNELS = 16
MIN_FINAL_SIZE = 4


class LayerShape:
    """Channels, stride and input size of one searchable layer."""

    def __init__(self, c_in: int, c_out: int, stride: int, size: int) -> None:
        self.c_in, self.c_out, self.stride, self.size = c_in, c_out, stride, size


class FBNetHead(nn.Module):
    """1x1 conv-BN-ReLU to the head width, global pooling, linear classifier."""

    def __init__(self, c_in: int, head_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = conv_bn_relu(c_in, head_channels, 1, 1)
        self.classifier = ClassifierHead(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.conv(x))


class FBNetNetwork(nn.Module):
    """The network of one FBNet genotype."""

    def __init__(self, space: "FBNetSpace", genotype: FBNetGenotype) -> None:
        super().__init__()
        cfg = space.config()
        self.stem = conv_bn_relu(cfg["in_channels"], STEM_CHANNELS, 3, space.stem_stride)
        self.layers = nn.Sequential(*(build_op(op, s.c_in, s.c_out, s.stride)
                                      for op, s in zip(genotype.ops, space.layer_shapes())))
        self.head = FBNetHead(STAGES[-1][0], cfg["head_channels"], cfg["num_classes"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)))


class FBNetSupernet(nn.Module):
    """The FBNet search network; ``forward(x, {"layers": w})`` with ``w`` of shape (22, 9)."""

    def __init__(self, space: "FBNetSpace") -> None:
        super().__init__()
        from hwnas.spaces.mixed import MixedOp

        cfg = space.config()
        self.stem = conv_bn_relu(cfg["in_channels"], STEM_CHANNELS, 3, space.stem_stride)
        self.layers = nn.ModuleList(MixedOp(FBNET_OPS, s.c_in, s.c_out, s.stride, affine=True)
                                    for s in space.layer_shapes())
        self.head = FBNetHead(STAGES[-1][0], cfg["head_channels"], cfg["num_classes"])

    def forward(self, x: torch.Tensor, weights: Dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.stem(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, weights["layers"][i])
        return self.head(x)


@register_space
class FBNetSpace(SearchSpace):
    """The FBNet space at one configuration; defaults are the paper's ImageNet network."""

    name = "fbnet"
    Config = FBNetConfig
    ops = FBNET_OPS
    candidates = FBNET_OPS

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        input_size = self.settings.input_size
        # Stride-2 positions: the stem, then the first layer of each strided stage.
        strided = 1 + sum(1 for _, _, s in STAGES if s == 2)
        keep = min(strided, max(0, int(math.floor(math.log2(input_size / MIN_FINAL_SIZE)))))
        strides = [1] * (strided - keep) + [2] * keep
        self.stem_stride = strides[0]
        stage_strides = iter(strides[1:])
        shapes, c_in, size = [], STEM_CHANNELS, conv_out(input_size, self.stem_stride)
        for c_out, n, first_stride in STAGES:
            for i in range(n):
                stride = next(stage_strides) if i == 0 and first_stride == 2 else 1
                shapes.append(LayerShape(c_in, c_out, stride, size))
                c_in, size = c_out, conv_out(size, stride)
        self._shapes = shapes
        self.final_size = size
        n = len(shapes)
        self._bounds = (np.zeros(n, dtype=np.int64), np.full(n, len(self.ops) - 1, dtype=np.int64))

    def layer_shapes(self) -> List[LayerShape]:
        return list(self._shapes)

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return self._bounds[0].copy(), self._bounds[1].copy()

    def check_genotype(self, genotype: Genotype) -> None:
        super().check_genotype(genotype)
        if len(genotype.ops) != len(self._shapes):
            raise GenotypeError(f"ops: the FBNet space has {len(self._shapes)} searchable layers, "
                                f"the genotype lists {len(genotype.ops)}")

    def encode(self, genotype: Genotype) -> np.ndarray:
        self.check_genotype(genotype)
        return np.array([self.ops.index(op) for op in genotype.ops], dtype=np.int64)

    def decode(self, x: Sequence[int]) -> FBNetGenotype:
        x = self.check_vector(x)
        return FBNetGenotype(tuple(self.ops[int(v)] for v in x))

    def build(self, genotype: Genotype) -> FBNetNetwork:
        self.check_genotype(genotype)
        return FBNetNetwork(self, genotype)

    # -- latency-table keys ------------------------------------------------------------------
    def fixed_pieces(self) -> List[Piece]:
        cfg = self.config()
        return [Piece("fbnet.stem", cfg["in_channels"], STEM_CHANNELS, self.stem_stride, cfg["input_size"]),
                Piece("fbnet.head", STAGES[-1][0], cfg["num_classes"], 1, self.final_size)]

    @staticmethod
    def _layer_piece(op: str, s: LayerShape) -> Piece:
        return Piece(op, s.c_in, s.c_out, s.stride, s.size)

    def choice_pieces(self) -> Dict[str, List[List[List[Piece]]]]:
        return {"layers": [[[self._layer_piece(op, s)] for op in self.candidates] for s in self._shapes]}

    def expected_cost(self, weights: Dict[str, torch.Tensor], costs: TorchCosts, built: bool = False) -> torch.Tensor:
        """Layers add up alone: sum of weight * cost."""
        return linear_cost(weights, costs)

    # -- search ------------------------------------------------------------------------------
    def supernet(self, partial: int = 1, batch_edges: bool = True) -> nn.Module:
        if partial > 1:
            raise ValueError("partial channels need mixed operations with as many channels out as in; FBNet's "
                             "layers change width: search fbnet without --partial-channels")
        return FBNetSupernet(self)

    def arch_shapes(self) -> Dict[str, Tuple[int, int]]:
        return {"layers": (len(self._shapes), len(self.ops))}

    def derive(self, weights: Dict[str, np.ndarray], max_skip: Optional[int] = None) -> FBNetGenotype:
        """Argmax per layer."""
        return FBNetGenotype(tuple(self.ops[int(i)] for i in np.asarray(weights["layers"]).argmax(axis=1)))

    def choice_score(self, genotype: Genotype, probs: Dict[str, np.ndarray]) -> float:
        x = self.encode(genotype)
        return float(np.log(np.maximum(probs["layers"][np.arange(len(x)), x], 1e-12)).sum())

    def _fixed_builders(self) -> Dict[str, Callable[[Piece], nn.Module]]:
        head_channels = self.settings.head_channels
        return {
            "fbnet.stem": lambda p: conv_bn_relu(p.c_in, p.c_out, 3, p.stride),
            "fbnet.head": lambda p: FBNetHead(p.c_in, head_channels, p.c_out),
        }
