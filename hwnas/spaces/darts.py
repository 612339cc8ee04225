"""The DARTS search space (Liu et al., 2019) and its evaluation networks.

A cell takes the outputs of the two previous cells, preprocesses them to ``C`` channels, and
computes 4 intermediate nodes, each the sum of two operations applied to earlier states; its
output concatenates the 4 nodes. The CIFAR network stacks ``L`` cells with reduction cells at
``L/3`` and ``2L/3`` after a ``3C`` stem; the ImageNet variant has a three-convolution stem.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.spaces.settings import DartsConfig
from hwnas.spaces.genotypes import DARTS_CELL_OPS, DARTS_OPS, DARTS_STEPS, DartsGenotype, Genotype
from hwnas.spaces.ops import ClassifierHead
from hwnas.spaces.base import Piece, SearchSpace, conv_out
from hwnas.spaces.costs import TorchCosts
from hwnas.spaces.darts_nets import CellShape, DartsNetwork, DartsSupernet, darts_edges, stem_modules


class DartsSpace(SearchSpace):
    """The DARTS space at one configuration; defaults are the CIFAR evaluation network."""

    name = "darts"
    Config = DartsConfig
    ops = DARTS_CELL_OPS
    candidates = DARTS_OPS  # the supernet also weighs `none`; derivation drops it
    proxy = {"init_channels": 16, "layers": 8}  # the DARTS paper's search network
    tiny_proxy = {"init_channels": 8, "layers": 5}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._shapes = self._cell_shapes()
        lower = np.zeros(4 * 2 * DARTS_STEPS, dtype=np.int64)
        upper = np.array([v for _ in range(2) for k in range(2 * DARTS_STEPS)
                          for v in (len(self.ops) - 1, k // 2 + 1)], dtype=np.int64)
        self._bounds = (lower, upper)

    # -- shapes ------------------------------------------------------------------------------
    def _stem_out(self) -> Tuple[int, int, int, int]:
        """(channels of s0, channels of s1, size of s0, size of s1) after the stem."""
        cfg = self.config()
        c, size = cfg["init_channels"], cfg["input_size"]
        if cfg["variant"] == "cifar":
            c_stem = cfg["stem_multiplier"] * c
            return c_stem, c_stem, size, size
        size0 = conv_out(conv_out(size, 2), 2)
        return c, c, size0, conv_out(size0, 2)

    def _cell_shapes(self) -> List[CellShape]:
        cfg = self.config()
        layers, c = cfg["layers"], cfg["init_channels"]
        c_pp, c_p, size0, size1 = self._stem_out()
        reduction_prev = cfg["variant"] == "imagenet"
        shapes = []
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            shape = CellShape(c_pp, c_p, c, reduction, reduction_prev, size0, size1)
            shapes.append(shape)
            c_pp, c_p = c_p, DARTS_STEPS * c
            size0, size1 = size1, shape.out_size
            reduction_prev = reduction
        return shapes

    def cell_shapes(self) -> List[CellShape]:
        return list(self._shapes)

    # -- encoding ----------------------------------------------------------------------------
    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return self._bounds[0].copy(), self._bounds[1].copy()

    def encode(self, genotype: Genotype) -> np.ndarray:
        self.check_genotype(genotype)
        return np.array([v for cell in (genotype.normal, genotype.reduce) for op, src in cell
                         for v in (self.ops.index(op), src)], dtype=np.int64)

    def decode(self, x: Sequence[int]) -> DartsGenotype:
        x = self.check_vector(x)
        half = 2 * DARTS_STEPS
        cells = [tuple((self.ops[int(x[2 * k])], int(x[2 * k + 1])) for k in range(start, start + half))
                 for start in (0, half)]
        return DartsGenotype(normal=cells[0], reduce=cells[1])

    def op_variables(self) -> np.ndarray:
        return np.arange(0, self.num_vars, 2)

    def var_groups(self) -> List[List[int]]:
        """Each (operation, input) pair: the input decides the stride in reduction cells."""
        return [[2 * k, 2 * k + 1] for k in range(self.num_vars // 2)]

    def sample(self, rng: np.random.Generator) -> DartsGenotype:
        """Random cells with two distinct inputs per node, as DARTS' derivation produces."""
        cells = []
        for _ in range(2):
            pairs = []
            for node in range(DARTS_STEPS):
                inputs = rng.choice(node + 2, size=2, replace=False)
                pairs += [(self.ops[int(rng.integers(len(self.ops)))], int(src)) for src in sorted(inputs)]
            cells.append(tuple(pairs))
        return DartsGenotype(normal=cells[0], reduce=cells[1])

    # -- networks ----------------------------------------------------------------------------
    def build(self, genotype: Genotype) -> DartsNetwork:
        self.check_genotype(genotype)
        return DartsNetwork(self._shapes, genotype, self.settings)

    # -- latency-table keys ------------------------------------------------------------------
    def _stem_pieces(self) -> List[Piece]:
        cfg = self.config()
        c, size, c_in = cfg["init_channels"], cfg["input_size"], cfg["in_channels"]
        if cfg["variant"] == "cifar":
            return [Piece("darts.stem", c_in, cfg["stem_multiplier"] * c, 1, size)]
        return [Piece("darts.stem0", c_in, c, 4, size), Piece("darts.stem1", c, c, 2, conv_out(conv_out(size, 2), 2))]

    def _cell_fixed_pieces(self, shape: CellShape) -> List[Piece]:
        return [Piece(op, c_in, shape.c, stride, size) for op, c_in, stride, size in shape.preprocess()] + \
            [Piece("add", shape.c, shape.c, 1, shape.out_size, arity=2)] * DARTS_STEPS + \
            [Piece("concat", shape.c, DARTS_STEPS * shape.c, 1, shape.out_size, arity=DARTS_STEPS)]

    @staticmethod
    def _edge_piece(shape: CellShape, op: str, src: int) -> Piece:
        return Piece(op, shape.c, shape.c, shape.edge_stride(src), shape.edge_size(src))

    def _head_piece(self) -> Piece:
        last = self._shapes[-1]
        return Piece("darts.head", DARTS_STEPS * last.c, self.settings.num_classes, 1, last.out_size)

    def fixed_pieces(self) -> List[Piece]:
        """Pieces every genotype runs: stem, cell preprocessing and glue, head."""
        pieces = self._stem_pieces()
        for shape in self._shapes:
            pieces += self._cell_fixed_pieces(shape)
        return pieces + [self._head_piece()]

    def choice_pieces(self) -> Dict[str, List[List[List[Piece]]]]:
        """Per cell type, per supernet edge (node, input), per candidate: its piece in every such cell."""
        out: Dict[str, List[List[List[Piece]]]] = {}
        for name, reduction in (("normal", False), ("reduce", True)):
            shapes = [s for s in self._shapes if s.reduction == reduction]
            out[name] = [[[] if op == "none" else [self._edge_piece(shape, op, src) for shape in shapes]
                          for op in DARTS_OPS] for _, src in darts_edges()]
        return out

    def choice_weights(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """Each chosen (op, input) pair counted on its edge; edges no node takes hold ``none``."""
        x = np.atleast_2d(np.asarray(x))
        edges = darts_edges()
        edge_of = {edge: i for i, edge in enumerate(edges)}
        column = np.array([DARTS_OPS.index(op) for op in self.ops])
        half = 2 * DARTS_STEPS
        out = {}
        for name, start in (("normal", 0), ("reduce", half)):
            w = np.zeros((len(x), len(edges), len(DARTS_OPS)))
            rows = np.arange(len(x))
            for k in range(half):
                ops, srcs = x[:, 2 * (start + k)], x[:, 2 * (start + k) + 1]
                edge = np.array([edge_of[(k // 2, int(src))] for src in srcs])
                np.add.at(w, (rows, edge, column[ops]), 1.0)  # the same input twice: counted twice
            w[..., DARTS_OPS.index("none")] = (w.sum(axis=-1) == 0)
            out[name] = w
        return out

    def expected_cost(self, weights: Dict[str, torch.Tensor], costs: TorchCosts, built: bool = False) -> torch.Tensor:
        """Each edge's cost weighted by how likely derivation keeps it.

        Derivation keeps 2 incoming edges per node, ranked by their strongest non-``none``
        weight: P(kept) ~ 2 x the edge's share of its node's strengths (at most 1). The op
        distribution of a kept edge excludes ``none``. For a genotype's weights every kept edge
        has share 1/2 (P = 1) and the rest 0: exact; an input taken twice counts twice.
        """
        none = DARTS_OPS.index("none")
        node_of = torch.tensor([node for node, _ in darts_edges()])
        members = None  # edge -> node, built once per call
        total = None
        for name, w in weights.items():
            cost = costs.choice[name].to(w.dtype)
            mask = torch.ones(w.shape[-1], dtype=w.dtype, device=w.device)
            mask[none] = 0.0
            ops = w * mask
            strength = ops.max(dim=-1).values
            if members is None:
                members = F.one_hot(node_of, DARTS_STEPS).to(w.dtype).to(w.device)
            node_total = (strength @ members) @ members.T
            keep = (2 * strength / node_total.clamp_min(1e-12)).clamp(max=1.0)
            mass = ops.sum(dim=-1)
            term = (keep * mass.clamp_min(1.0) * (ops * cost).sum(dim=-1) / mass.clamp_min(1e-12)).sum(dim=-1)
            total = term if total is None else total + term
        return total + costs.fixed

    # -- search ------------------------------------------------------------------------------
    def supernet(self, partial: int = 1, batch_edges: bool = True) -> nn.Module:
        return DartsSupernet(self._shapes, self.settings, partial, batch_edges)

    def edge_nodes(self) -> Optional[Dict[str, List[int]]]:
        return {group: [node for node, _ in darts_edges()] for group in ("normal", "reduce")}

    def arch_shapes(self) -> Dict[str, Tuple[int, int]]:
        return _darts_arch_shapes()

    def derive(self, weights: Dict[str, np.ndarray], max_skip: Optional[int] = None) -> DartsGenotype:
        return _darts_derive(weights, max_skip)

    def choice_score(self, genotype: Genotype, probs: Dict[str, np.ndarray]) -> float:
        edge = {e: i for i, e in enumerate(darts_edges())}
        return float(sum(np.log(max(probs[name][edge[(k // 2, src)], DARTS_OPS.index(op)], 1e-12))
                         for name in ("normal", "reduce")
                         for k, (op, src) in enumerate(getattr(genotype, name))))

    def _fixed_builders(self) -> Dict[str, Callable[[Piece], nn.Module]]:
        stem = stem_modules(self.settings)
        return {
            "darts.stem": lambda p: stem["stem"],
            "darts.stem0": lambda p: stem["stem0"],
            "darts.stem1": lambda p: stem["stem1"],
            "darts.head": lambda p: ClassifierHead(p.c_in, p.c_out),
        }


# ---------------------------------------------------------------------------------------------
# Search: the derivation rule


def _darts_arch_shapes() -> Dict[str, Tuple[int, int]]:
    return {"normal": (len(darts_edges()), len(DARTS_OPS)), "reduce": (len(darts_edges()), len(DARTS_OPS))}


def _darts_derive(weights: Dict[str, np.ndarray], max_skip: Optional[int] = None) -> DartsGenotype:
    """DARTS' rule: per node, the 2 incoming edges with the strongest non-``none`` op, and that op.

    ``max_skip`` caps skip connections per normal cell (a guard against DARTS' collapse to
    parameter-free cells): the weakest extra skips are replaced by their edge's best other op.
    """
    edges = darts_edges()
    cells = {}
    for name in ("normal", "reduce"):
        w = np.asarray(weights[name], dtype=float)
        no_none = w.copy()
        no_none[:, DARTS_OPS.index("none")] = -np.inf
        pairs: List[Tuple[str, int, int]] = []  # (op, src, edge)
        for node in range(DARTS_STEPS):
            idx = [e for e, (n, _) in enumerate(edges) if n == node]
            strength = no_none[idx].max(axis=1)
            for k in sorted(np.argsort(-strength, kind="stable")[:2]):
                e = idx[k]
                pairs.append((DARTS_OPS[int(no_none[e].argmax())], edges[e][1], e))
        if name == "normal" and max_skip is not None:
            skips = sorted((i for i, p in enumerate(pairs) if p[0] == "skip_connect"),
                           key=lambda i: -no_none[pairs[i][2], DARTS_OPS.index("skip_connect")])
            for i in skips[max_skip:]:
                row = no_none[pairs[i][2]].copy()
                row[DARTS_OPS.index("skip_connect")] = -np.inf
                pairs[i] = (DARTS_OPS[int(row.argmax())], pairs[i][1], pairs[i][2])
        cells[name] = tuple((op, src) for op, src, _ in pairs)
    return DartsGenotype(normal=cells["normal"], reduce=cells["reduce"])
