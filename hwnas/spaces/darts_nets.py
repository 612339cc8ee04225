"""The modules of the DARTS space: the derived network's cells, stems and auxiliary head, and
the supernet that weighs every candidate on every edge (see :mod:`hwnas.spaces.darts`)."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from hwnas.spaces.genotypes import DARTS_OPS, DARTS_STEPS, DartsGenotype
from hwnas.spaces.ops import ClassifierHead, build_op
from hwnas.spaces.settings import DartsConfig
from hwnas.spaces.base import conv_out
from hwnas.spaces.mixed import MixedOp


class CellShape:
    """One cell of the final network: channels and spatial sizes, and the rules that build it."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool, size0: int,
                 size1: int) -> None:
        self.c_pp, self.c_p, self.c = c_pp, c_p, c
        self.reduction, self.reduction_prev = reduction, reduction_prev
        self.size0, self.size1 = size0, size1
        self.out_size = conv_out(size1, 2) if reduction else size1

    def preprocess(self) -> List[Tuple[str, int, int, int]]:
        """(op, channels in, stride, input size) that bring each cell input to ``c`` channels: an
        input from before a reduction cell is reduced too."""
        first = ("skip_connect", self.c_pp, 2, self.size0) if self.reduction_prev else \
            ("nor_conv_1x1", self.c_pp, 1, self.size0)
        return [first, ("nor_conv_1x1", self.c_p, 1, self.size1)]

    def edge_stride(self, src: int) -> int:
        """In a reduction cell the two cell inputs are strided; later nodes are already reduced."""
        return 2 if self.reduction and src < 2 else 1

    def edge_size(self, src: int) -> int:
        """The input size of an edge from ``src``: a reduction cell's nodes are reduced already."""
        return self.out_size if self.reduction and src >= 2 else self.size1


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Drop a whole path per sample with probability ``drop_prob`` (DARTS' regulariser)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class DartsCell(nn.Module):
    """One cell of a derived DARTS network."""

    def __init__(self, pairs: Sequence[Tuple[str, int]], shape: CellShape) -> None:
        super().__init__()
        self.reduction = shape.reduction
        self.preprocess0, self.preprocess1 = (build_op(op, c_in, shape.c, stride)
                                              for op, c_in, stride, _ in shape.preprocess())
        self.ops = nn.ModuleList(build_op(op, shape.c, shape.c, shape.edge_stride(src)) for op, src in pairs)
        self.inputs = [src for _, src in pairs]
        self.multiplier = DARTS_STEPS

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(DARTS_STEPS):
            total = None
            for k in (2 * node, 2 * node + 1):
                h = self.ops[k](states[self.inputs[k]])
                if self.training and not isinstance(self.ops[k], nn.Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier, attached after the second reduction cell.

    The reference pools an 8x8 map (CIFAR) with a 5x5 window, stride 3 (2 for ImageNet's
    14x14); other input sizes use adaptive pooling to the same 2x2 output.
    """

    def __init__(self, c: int, num_classes: int, size: int, imagenet: bool) -> None:
        super().__init__()
        if (size, imagenet) in ((8, False), (14, True)):
            pool: nn.Module = nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False)
        else:
            pool = nn.AdaptiveAvgPool2d(2)
        layers: List[nn.Module] = [
            nn.ReLU(inplace=False), pool,
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        if not imagenet:  # the reference ImageNet head has no BatchNorm here
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def stem_modules(cfg: DartsConfig) -> Dict[str, nn.Module]:
    """The stem: one convolution (cifar), or two strided blocks whose outputs feed the first cell (imagenet)."""
    in_channels, c = cfg.in_channels, cfg.init_channels
    if cfg.variant == "cifar":
        c_stem = cfg.stem_multiplier * c
        return {"stem": nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))}
    return {
        "stem0": nn.Sequential(
            nn.Conv2d(in_channels, c // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(c // 2, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
        ),
        "stem1": nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False),
                               nn.BatchNorm2d(c)),
    }


class DartsNetwork(nn.Module):
    """A derived DARTS network (``NetworkCIFAR`` / ``NetworkImageNet`` of the reference code).

    In training mode with an auxiliary head, ``forward`` returns ``(logits, aux_logits)``;
    otherwise the logits. Set :attr:`drop_path_prob` during training for drop path.
    """

    def __init__(self, shapes: Sequence[CellShape], genotype: DartsGenotype, cfg: DartsConfig) -> None:
        super().__init__()
        self.variant = cfg.variant
        for name, module in stem_modules(cfg).items():
            self.add_module(name, module)
        self.cells = nn.ModuleList()
        self.aux_head = None
        self.drop_path_prob = 0.0
        self._aux_after = None
        for i, shape in enumerate(shapes):
            self.cells.append(DartsCell(genotype.reduce if shape.reduction else genotype.normal, shape))
            if cfg.auxiliary and i == 2 * cfg.layers // 3:
                self.aux_head = AuxiliaryHead(DARTS_STEPS * shape.c, cfg.num_classes, shape.out_size,
                                              self.variant == "imagenet")
                self._aux_after = i
        self.head = ClassifierHead(DARTS_STEPS * shapes[-1].c, cfg.num_classes)

    def forward(self, x: torch.Tensor):
        if self.variant == "cifar":
            s0 = s1 = self.stem(x)
        else:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._aux_after and self.training:
                aux = self.aux_head(s1)
        logits = self.head(s1)
        return (logits, aux) if aux is not None else logits



def darts_edges() -> List[Tuple[int, int]]:
    """(node, input) of every supernet edge: node i (0..3) takes every earlier state 0..i+1."""
    return [(node, src) for node in range(DARTS_STEPS) for src in range(node + 2)]


class SearchCell(nn.Module):
    """A DARTS supernet cell: a mixed operation on every edge of the cell's DAG.

    With partial channels the edges out of one state, which read the same input, run as one
    :class:`MixedOp` of side-by-side positions: the candidates are then so narrow that calls,
    not arithmetic, make a step's cost, and fewer, wider calls compute the same sums faster. At
    full width each edge runs alone (grouped convolutions of that width were slower on a CPU),
    and so does every edge with ``batch_edges=False``: under one-hot weights (GDAS) a batched
    candidate picked on one edge would run on all of its group, and the copies of the edges that
    did not pick it would still be decayed by the optimizer and update their BatchNorm statistics.
    """

    def __init__(self, shape: CellShape, partial: int = 1, batch_edges: bool = True) -> None:
        super().__init__()
        self.preprocess0, self.preprocess1 = (build_op(op, c_in, shape.c, stride, affine=False)
                                              for op, c_in, stride, _ in shape.preprocess())
        edges = darts_edges()
        # each group: (the state it reads, its edges' rows in the (14, 8) weights, the nodes they feed)
        self.plan: List[Tuple[int, List[int], List[int]]] = []
        if partial > 1 and batch_edges:
            for state in range(DARTS_STEPS + 1):
                rows = [e for e, (_, src) in enumerate(edges) if src == state]
                self.plan.append((state, rows, [edges[e][0] for e in rows]))
        else:  # in the edges' order, so a seed initialises the same weights on the same edges
            self.plan = [(src, [e], [node]) for e, (node, src) in enumerate(edges)]
        self.groups = nn.ModuleList(MixedOp(DARTS_OPS, shape.c, shape.c, shape.edge_stride(state), bn_after_pool=True,
                                            partial=partial, edges=len(rows))
                                    for state, rows, _ in self.plan)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        inbound: List[list] = [[] for _ in range(DARTS_STEPS)]  # per node: (mixed, bypass) of each edge in

        def leave(state: int) -> None:
            for group, (src, rows, targets) in zip(self.groups, self.plan):
                if src == state:
                    mixed, rest = group.forward_edges(states[state], weights[rows])
                    for node, m in zip(targets, mixed):
                        inbound[node].append((m, rest))

        leave(0)
        leave(1)
        for node in range(DARTS_STEPS):
            mixed = reduce(operator.add, (m for m, _ in inbound[node]))
            rest = None if inbound[node][0][1] is None else reduce(operator.add, (r for _, r in inbound[node]))
            states.append(self.groups[0].join(mixed, rest))
            leave(node + 2)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The DARTS search network; ``forward(x, {"normal": w, "reduce": w})`` with ``w`` of shape (14, 8)."""

    def __init__(self, shapes: Sequence[CellShape], cfg: DartsConfig, partial: int = 1, batch_edges: bool = True) -> None:
        super().__init__()
        if cfg.variant != "cifar":
            raise ValueError("the DARTS supernet searches with the CIFAR network; use --variant cifar for the proxy")
        self.stem = stem_modules(cfg)["stem"]
        self.cells = nn.ModuleList(SearchCell(shape, partial, batch_edges) for shape in shapes)
        self.reductions = [shape.reduction for shape in shapes]
        self.head = ClassifierHead(DARTS_STEPS * shapes[-1].c, cfg.num_classes)
        self.checkpoint_cells = 0  # the first N cells hold the largest activations

    def forward(self, x: torch.Tensor, weights: Dict[str, torch.Tensor]) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for i, (cell, reduction) in enumerate(zip(self.cells, self.reductions)):
            w = weights["reduce" if reduction else "normal"]
            if i < self.checkpoint_cells and torch.is_grad_enabled():
                # Recompute this cell in the backward pass instead of storing its activations.
                s0, s1 = s1, checkpoint(cell, s0, s1, w, use_reentrant=False)
            else:
                s0, s1 = s1, cell(s0, s1, w)
        return self.head(s1)
