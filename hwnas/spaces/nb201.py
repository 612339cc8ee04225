"""The NAS-Bench-201 search space (Dong & Yang, 2020) and its network.

A cell is a 4-node DAG with an operation on each of its 6 edges; node ``k`` sums its incoming
edges and the cell outputs node 3. The network: a 3x3 conv stem to ``C`` channels (16), three
stages of ``N`` cells (5) at C, 2C and 4C channels joined by residual reduction blocks, then
BN-ReLU, global pooling and a linear classifier. Parameter counts equal the benchmark's.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hwnas.core.space_settings import NB201Config
from hwnas.core.genotype import NB201_EDGES, NB201_NODES, NB201_OPS, Genotype, NB201Genotype
from hwnas.core.ops import build_op, relu_conv_bn
from hwnas.core.ops import ClassifierHead
from hwnas.spaces.base import Piece, SearchSpace, TorchCosts, conv_out, linear_cost
from hwnas.spaces.mixed import MixedOp
from hwnas.spaces.registry import register_space


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
SHARED_PIECES = tuple(sorted(set(SHARED_PART.values())))


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
        cfg = space.config()
        c = cfg["init_channels"]
        self.stem = nn.Sequential(nn.Conv2d(cfg["in_channels"], c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        blocks: List[nn.Module] = []
        for stage in range(3):
            if stage:
                blocks.append(ResidualReduction(c, 2 * c))
                c *= 2
            blocks += [NB201Cell(genotype.ops, c) for _ in range(cfg["cells_per_stage"])]
        self.cells = nn.Sequential(*blocks)
        self.head = ClassifierHead(c, cfg["num_classes"], bn_relu=True)

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
        cfg = space.config()
        c = cfg["init_channels"]
        self.stem = nn.Sequential(nn.Conv2d(cfg["in_channels"], c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.blocks = nn.ModuleList()
        for stage in range(3):
            if stage:
                self.blocks.append(ResidualReduction(c, 2 * c))
                c *= 2
            self.blocks.extend(NB201SearchCell(c, partial) for _ in range(cfg["cells_per_stage"]))
        self.head = ClassifierHead(c, cfg["num_classes"], bn_relu=True)

    def forward(self, x: torch.Tensor, weights: Dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, weights["cell"]) if isinstance(block, NB201SearchCell) else block(x)
        return self.head(x)


def _count_distribution(probs: List[torch.Tensor]) -> torch.Tensor:
    """P(exactly k of independent events happen), k = 0..len(probs), along a new last axis."""
    dist = torch.ones_like(probs[0]).unsqueeze(-1)
    for p in probs:
        p = p.unsqueeze(-1)
        dist = torch.cat([dist * (1 - p), torch.zeros_like(p)], dim=-1) + \
            torch.cat([torch.zeros_like(p), dist * p], dim=-1)
    return dist


@register_space
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

    def stages(self) -> List[Tuple[int, int]]:
        """(channels, spatial size) of the cells of each stage."""
        c, size = self.settings.init_channels, self.settings.input_size
        out = []
        for stage in range(3):
            if stage:
                c, size = 2 * c, conv_out(size, 2)
            out.append((c, size))
        return out

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
        cfg = self.config()
        (c1, s1), (c2, s2), (c3, s3) = self.stages()
        return [
            Piece("nb201.stem", cfg["in_channels"], c1, 1, cfg["input_size"]),
            Piece("nb201.reduction", c1, c2, 2, s1),
            Piece("nb201.reduction", c2, c3, 2, s2),
            Piece("nb201.head", c3, cfg["num_classes"], 1, s3),
        ]

    def _cell_pieces(self, ops: Sequence[str], c: int, size: int) -> List[Piece]:
        live, live_node = live_edges(ops), live_nodes(ops)
        tensor = list(range(NB201_NODES))  # whose tensor each node is: a lone skip input passes it on
        for to in range(1, NB201_NODES - 1):
            inputs = [(op, src) for op, alive, (t, src) in zip(ops, live, NB201_EDGES) if t == to and alive]
            if len(inputs) == 1 and inputs[0][0] == "skip_connect":
                tensor[to] = tensor[inputs[0][1]]
        pieces, shared = [], set()
        for op, alive, (_, src) in zip(ops, live, NB201_EDGES):
            if alive:
                pieces += own_piece(op, c, size)
                if op in SHARED_PART:
                    shared.add((SHARED_PART[op], tensor[src]))
        pieces += [Piece(part, c, c, 1, size) for part, _ in sorted(shared)]
        for to in range(1, NB201_NODES):
            if live_node[to]:
                fan_in = sum(live[e] for e, (t, _) in enumerate(NB201_EDGES) if t == to)
                pieces += self._node_pieces(fan_in, c, size)
        return pieces

    @staticmethod
    def _node_pieces(fan_in: int, c: int, size: int) -> List[Piece]:
        """What a live node runs besides its edges: zeros when no input is live (``x * 0``, as in
        :class:`NB201Cell`), a sum of 2 or 3 inputs."""
        if fan_in == 0:
            return [Piece("none", c, c, 1, size)]
        return [Piece("add", c, c, 1, size, arity=fan_in)] if fan_in > 1 else []

    def pieces(self, genotype: Genotype) -> List[Piece]:
        self.check_genotype(genotype)
        pieces = self.fixed_pieces()
        for c, size in self.stages():
            pieces += self._cell_pieces(genotype.ops, c, size) * self.settings.cells_per_stage
        return pieces

    def choice_pieces(self) -> Dict[str, List[List[List[Piece]]]]:
        n = self.settings.cells_per_stage
        per_op = [[p for c, size in self.stages() for p in own_piece(op, c, size)] * n for op in self.candidates]
        return {"cell": [per_op for _ in NB201_EDGES]}

    def extra_pieces(self) -> Dict[str, List[List[Piece]]]:
        """``node``: what a live node runs for each number of live inputs (0 to 3); ``shared``: each
        part of :data:`SHARED_PIECES` run on one node's output; both over all cells."""
        n = self.settings.cells_per_stage
        return {"node": [[p for c, size in self.stages() for p in self._node_pieces(k, c, size)] * n
                         for k in range(NB201_NODES)],
                "shared": [[Piece(part, c, c, 1, size) for c, size in self.stages()] * n for part in SHARED_PIECES]}

    def expected_cost(self, weights: Dict[str, torch.Tensor], costs: TorchCosts, built: bool = False) -> torch.Tensor:
        """Every non-``none`` edge is built; only live edges run (:func:`live_edges`), and a live
        node sums its live inputs (the output node makes zeros when it has none).

        With edges independent, an edge runs with probability P(not none) x P(its source holds
        more than zeros) x P(its target reaches the output given it runs), and a live node costs
        by how many of its inputs run: both exact. A part edges share (:data:`SHARED_PART`) costs
        once per tensor it reads (a node whose one input is a skip is its source's tensor), with
        the probability that any edge reading it runs it, taking those events as independent (an
        approximation, 1-3% high for soft weights in checks). For a genotype's weights every
        probability is 0 or 1: exact.
        """
        if built:
            return linear_cost(weights, costs)
        w = weights["cell"]
        cost = costs.choice["cell"].to(w.dtype)
        none = self.candidates.index("none")
        on = w.sum(dim=-1) - w[..., none]  # P(edge not none), per edge
        e = {edge: i for i, edge in enumerate(NB201_EDGES)}
        o = {edge: on[..., i] for edge, i in e.items()}  # P(not none) by (to, from)
        one = torch.ones_like(on[..., 0])
        nonzero = {0: one, 1: o[(1, 0)]}
        nonzero[2] = 1 - (1 - o[(2, 0)]) * (1 - o[(2, 1)] * nonzero[1])
        live2 = o[(3, 2)]  # given node 2 is read, it holds more than zeros
        node_live = {1: 1 - (1 - o[(3, 1)]) * (1 - o[(2, 1)] * live2), 2: live2, 3: one}
        # (w * cost) over candidates is P(not none) x E[cost | not none]; times its source and target
        edge_cost = (w * cost).sum(dim=-1)
        total = sum(edge_cost[..., i] * nonzero[src] * node_live[to] for i, (to, src) in enumerate(NB201_EDGES))
        # P(node k holds more than zeros and is tensor t): its own, or (a lone skip input) the one it passes on
        skip = w[..., self.candidates.index("skip_connect")]
        to_1 = skip[..., e[(1, 0)]]
        from_0 = skip[..., e[(2, 0)]] * (1 - o[(2, 1)] * nonzero[1])
        from_1 = skip[..., e[(2, 1)]] * w[..., e[(2, 0)], none]
        holds = {0: {0: one}, 1: {0: to_1, 1: nonzero[1] - to_1},
                 2: {0: from_0 + from_1 * to_1, 1: from_1 * (nonzero[1] - to_1),
                     2: nonzero[2] - from_0 - from_1 * nonzero[1]}}
        for part, part_cost in zip(SHARED_PIECES, costs.extra["shared"].to(w.dtype)):
            runs_it = [self.candidates.index(op) for op, shared in SHARED_PART.items() if shared == part]
            for t in range(NB201_NODES - 1):  # it runs on a tensor if any live edge reading it runs it
                none_runs = one
                for i, (to, src) in enumerate(NB201_EDGES):
                    if t in holds[src]:
                        none_runs = none_runs * (1 - w[..., i, runs_it].sum(dim=-1) * node_live[to] * holds[src][t])
                total = total + (1 - none_runs) * part_cost
        node = costs.extra["node"].to(w.dtype)
        for to in (1, 2):  # a live node costs by how many of its inputs run (independent edges: exact)
            incoming = [on[..., i] * nonzero[src] for i, (t, src) in enumerate(NB201_EDGES) if t == to]
            total = total + node_live[to] * (_count_distribution(incoming) * node[:len(incoming) + 1])[..., 1:].sum(-1)
        # node 3 (makes zeros when no input runs): its inputs from nodes 1 and 2 both hang on edge 1 <- 0
        with_1 = _count_distribution([o[(3, 0)], o[(3, 1)], o[(3, 2)] * (1 - (1 - o[(2, 0)]) * (1 - o[(2, 1)]))])
        without_1 = _count_distribution([o[(3, 0)], torch.zeros_like(one), o[(3, 2)] * o[(2, 0)]])
        total = total + ((o[(1, 0)][..., None] * with_1 + (1 - o[(1, 0)])[..., None] * without_1) * node).sum(-1)
        return total + costs.fixed

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
