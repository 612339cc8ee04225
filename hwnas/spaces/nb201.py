"""The NAS-Bench-201 search space (Dong & Yang, 2020) and its network.

A cell is a 4-node DAG with an operation on each of its 6 edges; node ``k`` sums its incoming
edges and the cell outputs node 3. The network: a 3x3 conv stem to ``C`` channels (16), three
stages of ``N`` cells (5) at C, 2C and 4C channels joined by residual reduction blocks, then
BN-ReLU, global pooling and a linear classifier. Parameter counts equal the benchmark's.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from hwnas.spaces.settings import NB201Config
from hwnas.spaces.genotypes import NB201_EDGES, NB201_NODES, NB201_OPS, Genotype, NB201Genotype
from hwnas.spaces.ops import build_op, relu_conv_bn
from hwnas.spaces.ops import ClassifierHead
from hwnas.spaces.base import Piece, SearchSpace, conv_out
from hwnas.spaces.costs import CostArrays, TorchCosts, linear_cost
from hwnas.spaces.mixed import MixedOp


class ResidualReduction(nn.Module):
    """NAS-Bench-201's ``ResNetBasicblock`` with stride 2, between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, 2, 1)
        self.conv_b = relu_conv_bn(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


# What several edges from one node run alike: an operation on a node's output without weights
# (a pooling; a convolution's leading ReLU) computes the same thing on every edge, and runtimes
# merge such copies (ONNX Runtime's common-subexpression elimination), so it runs once per node.
# An edge's operation is its shared part (by piece op) and its own part (the rest).
SHARED_PART = {"avg_pool_3x3": "avg_pool_3x3", "nor_conv_1x1": "nb201.relu", "nor_conv_3x3": "nb201.relu"}
OWN_PART = {"avg_pool_3x3": None, "nor_conv_1x1": "nb201.conv_1x1", "nor_conv_3x3": "nb201.conv_3x3", "none": None}


def own_piece(op: str, c: int, size: int) -> List["Piece"]:
    """What an edge running ``op`` runs that no other edge shares."""
    part = OWN_PART.get(op, op)
    return [] if part is None else [Piece(part, c, c, 1, size)]


def nonzero_nodes(ops: Sequence[str]) -> List[bool]:
    """Which nodes hold more than zeros: node 0, and a node with a non-``none`` edge from one."""
    nonzero = [True] + [False] * (NB201_NODES - 1)
    for e, (to, src) in enumerate(NB201_EDGES):  # edges are listed by target node
        nonzero[to] = nonzero[to] or (ops[e] != "none" and nonzero[src])
    return nonzero


def live_nodes(ops: Sequence[str]) -> List[bool]:
    """Which nodes reach the cell output (node 3) through edges that run (:func:`live_edges`)."""
    nonzero = nonzero_nodes(ops)
    live_node = [False] * NB201_NODES
    live_node[-1] = True
    for node in range(NB201_NODES - 2, 0, -1):
        live_node[node] = nonzero[node] and any(live_node[to] and ops[e] != "none"
                                                for e, (to, src) in enumerate(NB201_EDGES) if src == node)
    return live_node


def live_edges(ops: Sequence[str]) -> List[bool]:
    """Which edges run: not ``none``, reading a node that holds more than zeros, into a node that
    reaches the cell output.

    An edge into a node whose value never reaches the output is dead: exporters drop it, so it
    neither changes the output nor costs time. An edge reading a node of zeros (whose inputs are
    all ``none``) is dropped too: a pooling or skip of zeros adds zeros, a convolution of zeros
    only its BatchNorm's constant shift. Runtimes cannot prove a ``x * 0`` is zero (NaN), so
    built, such edges would cost time (and layout changes around the ``Mul``) for that shift.
    """
    live_node, nonzero = live_nodes(ops), nonzero_nodes(ops)
    return [live_node[to] and nonzero[src] and op != "none" for op, (to, src) in zip(ops, NB201_EDGES)]


@lru_cache(maxsize=None)
def cell_parts(ops: Tuple[str, ...]) -> Tuple[Tuple[str, int], ...]:
    """What a cell with these edge operations runs, as (piece op, arity): each live edge's own
    part, each shared part once per tensor it reads, a sum per live node of 2 or 3 live inputs,
    and zeros (``none``) for an output node without one (as :class:`NB201Cell` runs it)."""
    live, live_node = live_edges(ops), live_nodes(ops)
    tensor = list(range(NB201_NODES))  # whose tensor each node is: a lone skip input passes it on
    for to in range(1, NB201_NODES - 1):
        inputs = [(op, src) for op, alive, (t, src) in zip(ops, live, NB201_EDGES) if t == to and alive]
        if len(inputs) == 1 and inputs[0][0] == "skip_connect":
            tensor[to] = tensor[inputs[0][1]]
    parts, shared = [], set()
    for op, alive, (_, src) in zip(ops, live, NB201_EDGES):
        if alive:
            own = OWN_PART.get(op, op)  # None: a pooling runs only its shared part
            parts += [(own, 1)] if own else []
            if op in SHARED_PART:
                shared.add((SHARED_PART[op], tensor[src]))
    parts += [(part, 1) for part, _ in sorted(shared)]
    for to in range(1, NB201_NODES):
        fan_in = sum(live[e] for e, (t, _) in enumerate(NB201_EDGES) if t == to)
        if live_node[to] and fan_in != 1:
            parts.append(("add", fan_in) if fan_in else ("none", 1))
    return tuple(parts)


@lru_cache(maxsize=None)
def every_cell() -> Tuple[Tuple[Tuple[str, int], ...], np.ndarray]:
    """The parts any cell runs, and how often each of the 15,625 cells (rows, in encoding order)
    runs each part."""
    cells = [cell_parts(tuple(NB201_OPS[i] for i in x))
             for x in itertools.product(range(len(NB201_OPS)), repeat=len(NB201_EDGES))]
    parts = sorted({part for cell in cells for part in cell})
    column = {part: j for j, part in enumerate(parts)}
    counts = np.zeros((len(cells), len(parts)))
    for i, cell in enumerate(cells):
        for part in cell:
            counts[i, column[part]] += 1
    counts.flags.writeable = False  # cached: shared by every caller
    return tuple(parts), counts


class NB201Cell(nn.Module):
    """A NAS-Bench-201 ``InferCell``.

    Every non-``none`` edge is built, as in the benchmark (so parameter counts match it), but
    only live edges run (:func:`live_edges`).
    """

    def __init__(self, ops: Sequence[str], c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict({f"{src}_{to}": build_op(op, c, c, 1)
                                    for (to, src), op in zip(NB201_EDGES, ops) if op != "none"})
        self.live = [f"{src}_{to}" for (to, src), alive in zip(NB201_EDGES, live_edges(ops)) if alive]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: List[Optional[torch.Tensor]] = [x]
        for to in range(1, NB201_NODES):
            terms = [self.edges[f"{src}_{to}"](nodes[src]) for src in range(to) if f"{src}_{to}" in self.live]
            total = terms[0] if terms else None  # no live input: nothing reads it, unless it is the output
            for term in terms[1:]:
                total = total + term
            nodes.append(total)
        return nodes[-1] if nodes[-1] is not None else x.mul(0.0)  # a cell of zeros


class NB201Network(nn.Module):
    """NAS-Bench-201's ``TinyNetwork`` for one cell genotype."""

    def __init__(self, space: "NB201Space", genotype: NB201Genotype) -> None:
        super().__init__()
        stem, cells, head = space.assemble(lambda c: NB201Cell(genotype.ops, c))
        self.stem, self.cells, self.head = stem, nn.Sequential(*cells), head  # registered in the network's order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cells(self.stem(x)))


class NB201SearchCell(nn.Module):
    """A supernet cell: a mixed operation on each of the 6 edges (BN without affine, as in NB201)."""

    def __init__(self, c: int, partial: int = 1) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(NB201_OPS, c, c, 1, partial=partial) for _ in NB201_EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to in range(1, NB201_NODES):
            total = None
            for e, (t, src) in enumerate(NB201_EDGES):
                if t == to:
                    h = self.edges[e](nodes[src], weights[e])
                    total = h if total is None else total + h
            nodes.append(total)
        return nodes[-1]


class NB201Supernet(nn.Module):
    """The NAS-Bench-201 search network; ``forward(x, {"cell": w})`` with ``w`` of shape (6, 5)."""

    def __init__(self, space: "NB201Space", partial: int = 1) -> None:
        super().__init__()
        stem, blocks, head = space.assemble(lambda c: NB201SearchCell(c, partial))
        self.stem, self.blocks, self.head = stem, nn.ModuleList(blocks), head

    def forward(self, x: torch.Tensor, weights: Dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, weights["cell"]) if isinstance(block, NB201SearchCell) else block(x)
        return self.head(x)


class NB201Space(SearchSpace):
    """NAS-Bench-201 at one configuration; defaults are the benchmark's CIFAR-10 network."""

    name = "nb201"
    Config = NB201Config
    ops = NB201_OPS
    candidates = NB201_OPS
    proxy = {"init_channels": 16, "layers": 5}  # the benchmark's own network
    tiny_proxy = {"init_channels": 8, "layers": 1}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        n = len(NB201_EDGES)
        self._bounds = (np.zeros(n, dtype=np.int64), np.full(n, len(self.ops) - 1, dtype=np.int64))

    def blocks(self) -> List[Union[Piece, Tuple[int, int]]]:
        """The network, as data: its fixed pieces (stem, reductions, head) and its cells, as
        (channels, spatial size), in order."""
        cfg = self.settings
        c, size = cfg.init_channels, cfg.input_size
        blocks: List[Union[Piece, Tuple[int, int]]] = [Piece("nb201.stem", cfg.in_channels, c, 1, size)]
        for stage in range(3):
            if stage:
                blocks.append(Piece("nb201.reduction", c, 2 * c, 2, size))
                c, size = 2 * c, conv_out(size, 2)
            blocks += [(c, size)] * cfg.cells_per_stage
        return blocks + [Piece("nb201.head", c, cfg.num_classes, 1, size)]

    def stages(self) -> List[Tuple[int, int]]:
        """(channels, spatial size) of the cells of each stage."""
        return list(dict.fromkeys(b for b in self.blocks() if not isinstance(b, Piece)))

    def assemble(self, cell: Callable[[int], nn.Module]) -> Tuple[nn.Module, List[nn.Module], nn.Module]:
        """(stem, the modules between, head) of the network :meth:`blocks` describes, each cell
        made by ``cell(channels)``."""
        modules = [self.build_piece(b)[0] if isinstance(b, Piece) else cell(b[0]) for b in self.blocks()]
        return modules[0], modules[1:-1], modules[-1]

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return self._bounds[0].copy(), self._bounds[1].copy()

    def encode(self, genotype: Genotype) -> np.ndarray:
        self.check_genotype(genotype)
        return np.array([self.ops.index(op) for op in genotype.ops], dtype=np.int64)

    def decode(self, x: Sequence[int]) -> NB201Genotype:
        x = self.check_vector(x)
        return NB201Genotype.from_ops([self.ops[int(v)] for v in x])

    def var_groups(self) -> List[List[int]]:
        """One group: which edges are live depends on all of them (15,625 cells, enumerated)."""
        return [list(range(self.num_vars))]

    def build(self, genotype: Genotype) -> NB201Network:
        self.check_genotype(genotype)
        return NB201Network(self, genotype)

    # -- latency-table keys ------------------------------------------------------------------
    def fixed_pieces(self) -> List[Piece]:
        return [b for b in self.blocks() if isinstance(b, Piece)]

    def _cell_pieces(self, ops: Sequence[str], c: int, size: int) -> List[Piece]:
        return [Piece(op, c, c, 1, size, arity) for op, arity in cell_parts(tuple(ops))]

    def pieces(self, genotype: Genotype) -> List[Piece]:
        self.check_genotype(genotype)
        pieces = self.fixed_pieces()
        for c, size in self.stages():
            pieces += self._cell_pieces(genotype.ops, c, size) * self.settings.cells_per_stage
        return pieces

    def all_pieces(self) -> List[Piece]:
        parts, _ = every_cell()
        return sorted(set(self.fixed_pieces()) | {Piece(op, c, c, 1, size, arity) for c, size in self.stages()
                                                   for op, arity in parts})

    def choice_pieces(self) -> Dict[str, List[List[List[Piece]]]]:
        """What each edge builds: every non-``none`` edge is built, so parameters add up by edge
        (what runs is priced per whole cell, in :meth:`cost_arrays`' ``cells``)."""
        n = self.settings.cells_per_stage
        per_op = [[p for c, size in self.stages() for p in own_piece(op, c, size)] * n for op in self.candidates]
        return {"cell": [per_op for _ in NB201_EDGES]}

    def cost_arrays(self, lookup: Callable[[Piece], float]) -> CostArrays:
        """Besides what each edge builds, ``cells``: what every one of the 15,625 cells costs
        where it runs, in all cells of the network (by its encoding, as a mixed-radix number)."""
        parts, counts = every_cell()
        per_part = sum(np.array([lookup(Piece(op, c, c, 1, size, arity)) for op, arity in parts])
                       for c, size in self.stages())
        arrays = super().cost_arrays(lookup)
        return CostArrays(arrays.fixed, arrays.choice, {"cells": self.settings.cells_per_stage * counts @ per_part})

    def expected_cost(self, weights: Dict[str, torch.Tensor], costs: TorchCosts, built: bool = False) -> torch.Tensor:
        """Every non-``none`` edge is built (parameters add up by edge); what runs depends on the
        whole cell (:func:`live_edges`), so the expected cost sums every cell's cost weighted by
        its probability, the product of its edges' weights: exact for any weights whose rows
        are distributions, and for a genotype's one-hot weights its cost."""
        if built:
            return linear_cost(weights, costs)
        w = weights["cell"]
        cells = costs.extra["cells"].to(w.dtype).reshape((len(self.candidates),) * len(NB201_EDGES))
        edges = [w[..., e, :] for e in range(len(NB201_EDGES))]
        return torch.einsum("abcdef,...a,...b,...c,...d,...e,...f->...", cells, *edges) + costs.fixed

    # -- search ------------------------------------------------------------------------------
    def supernet(self, partial: int = 1, batch_edges: bool = True) -> nn.Module:
        return NB201Supernet(self, partial)  # each edge alone: six edges, few to batch

    def arch_shapes(self) -> Dict[str, Tuple[int, int]]:
        return {"cell": (len(NB201_EDGES), len(self.ops))}

    def derive(self, weights: Dict[str, np.ndarray], max_skip: Optional[int] = None) -> NB201Genotype:
        """Argmax per edge (``none`` included, as in the benchmark's DARTS baselines).

        ``max_skip`` caps skip connections per cell (a guard against collapse): the weakest extra
        skips are replaced by their edge's best other operation.
        """
        w = np.asarray(weights["cell"], dtype=float)
        picks = [int(i) for i in w.argmax(axis=1)]
        skip = self.ops.index("skip_connect")
        if max_skip is not None:
            skips = sorted((e for e, i in enumerate(picks) if i == skip), key=lambda e: -w[e, skip])
            for e in skips[max_skip:]:
                picks[e] = int(np.argmax(np.where(np.arange(len(self.ops)) == skip, -np.inf, w[e])))
        return NB201Genotype.from_ops([self.ops[i] for i in picks])

    def choice_score(self, genotype: Genotype, probs: Dict[str, np.ndarray]) -> float:
        x = self.encode(genotype)
        return float(np.log(np.maximum(probs["cell"][np.arange(len(x)), x], 1e-12)).sum())

    def _fixed_builders(self) -> Dict[str, Callable[[Piece], nn.Module]]:
        def stem(p: Piece) -> nn.Module:
            return nn.Sequential(nn.Conv2d(p.c_in, p.c_out, 3, padding=1, bias=False), nn.BatchNorm2d(p.c_out))

        return {
            "nb201.stem": stem,
            "nb201.reduction": lambda p: ResidualReduction(p.c_in, p.c_out),
            "nb201.head": lambda p: ClassifierHead(p.c_in, p.c_out, bn_relu=True),
            "nb201.relu": lambda p: nn.ReLU(),
            "nb201.conv_1x1": lambda p: relu_conv_bn(p.c_in, p.c_out, 1, 1, 0)[1:],
            "nb201.conv_3x3": lambda p: relu_conv_bn(p.c_in, p.c_out, 3, 1, 1)[1:],
        }
