"""What every search space offers, and the unit the latency table is keyed by.

A space knows its searchable positions and their shapes, encodes genotypes as integer vectors
(for pymoo), samples genotypes and builds the final network of a genotype. Its one cost
structure says which :class:`Piece` s the final network runs for each architecture choice
(:meth:`SearchSpace.choice_pieces`, priced by :meth:`SearchSpace.cost_arrays`) and how choices
combine (:meth:`SearchSpace.expected_cost`): the :class:`~hwnas.spaces.costs.Costs` made from it
give the table's prediction of one genotype or of many, the search's differentiable penalty,
parameters and FLOPs. A space whose costs do not add up by choice overrides both
:meth:`~SearchSpace.cost_arrays` (to price what it needs, as ``extra``) and
:meth:`~SearchSpace.expected_cost` (NAS-Bench-201 prices every whole cell).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hwnas.spaces.genotypes import Genotype, GenotypeError
from hwnas.spaces.ops import build_op
from hwnas.spaces.settings import check_options
from hwnas.spaces.costs import CostArrays, Costs, TorchCosts

Shape = Tuple[int, ...]


@dataclass(frozen=True, order=True)
class Piece:
    """One unit of a final network as the latency table sees it: an operation at one shape.

    ``op`` is a name of the operation registry (``sep_conv_3x3``), a glue operation shared by
    all spaces (``add``: sum of ``arity`` tensors; ``concat``: ``arity`` tensors joined along
    channels) or a fixed part of one space (``darts.stem``). ``size`` is the input's height and
    width; ``c_in`` is the channel count of each input.
    """

    op: str
    c_in: int
    c_out: int
    stride: int
    size: int
    arity: int = 1

    @property
    def key(self) -> str:
        key = f"{self.op}|c{self.c_in}-{self.c_out}|s{self.stride}|{self.size}x{self.size}"
        return key + (f"|n{self.arity}" if self.arity > 1 else "")

    def to_dict(self) -> dict:
        return {"key": self.key, **asdict(self)}


class Sum(nn.Module):
    """The ``add`` glue piece: the sum of its inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """The ``concat`` glue piece: inputs joined along the channel axis."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


def conv_out(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded convolution or pooling with ``stride``."""
    return (size + stride - 1) // stride


class SearchSpace(ABC):
    """A search space at one network configuration (channels, depth, input size, classes)."""

    name: ClassVar[str]
    Config: ClassVar[type]  # the settings dataclass (see :mod:`hwnas.spaces.options`)
    ops: ClassVar[Tuple[str, ...]]  # operations a genotype can hold
    candidates: ClassVar[Tuple[str, ...]]  # columns of the architecture weights (supernet candidates)
    # The proxy network a search trains when none is given (command-line option names): for
    # 32x32 and larger inputs, and for tiny images such as digits.
    proxy: ClassVar[Dict[str, int]] = {}
    tiny_proxy: ClassVar[Dict[str, int]] = {}

    # -- configuration -----------------------------------------------------------------------
    def __init__(self, **options: Any) -> None:
        try:
            self.settings = self.Config(**options)
        except TypeError:  # an unknown option
            unknown = sorted(set(options) - {f.name for f in fields(self.Config)})
            raise ValueError(f"unknown option(s) {', '.join(unknown)} of the {self.name} space; its options: "
                             f"{', '.join(f.name for f in fields(self.Config))}") from None
        check_options(self.settings)

    @property
    def source(self) -> str:  # how --space names it: its name, or its file
        return self.name

    @property
    def table_name(self) -> str:  # the first part of its latency tables' file names
        return self.name

    def config(self) -> Dict[str, Any]:
        """Every option that shapes the final network (recorded with tables and runs)."""
        return {"space": self.name, **asdict(self.settings)}

    @property
    def input_shape(self) -> Shape:
        """Shape of one input image, (channels, height, width)."""
        cfg = self.config()
        return (cfg["in_channels"], cfg["input_size"], cfg["input_size"])

    # -- encoding ----------------------------------------------------------------------------
    @property
    @abstractmethod
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Inclusive lower and upper bounds of each integer variable."""

    @property
    def num_vars(self) -> int:
        return len(self.bounds[0])

    @abstractmethod
    def encode(self, genotype: Genotype) -> np.ndarray:
        """The genotype as an integer vector within :attr:`bounds`."""

    @abstractmethod
    def decode(self, x: Sequence[int]) -> Genotype:
        """The genotype of an integer vector (the inverse of :meth:`encode`)."""

    def check_vector(self, x: Sequence[int]) -> np.ndarray:
        x = np.asarray(x)
        lower, upper = self.bounds
        if x.shape != lower.shape:
            raise GenotypeError(f"a {self.name} genotype vector has {len(lower)} entries, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.integer):
            if not np.all(np.equal(np.round(x), x)):
                raise GenotypeError(f"a {self.name} genotype vector holds integers, got {x}")
            x = x.astype(np.int64)
        bad = np.flatnonzero((x < lower) | (x > upper))
        if bad.size:
            i = int(bad[0])
            raise GenotypeError(f"variable {i} is {int(x[i])}, outside its range {int(lower[i])}..{int(upper[i])}")
        return x.astype(np.int64)

    def sample(self, rng: np.random.Generator) -> Genotype:
        """A uniformly random genotype (seed the generator for a reproducible draw)."""
        lower, upper = self.bounds
        return self.decode(rng.integers(lower, upper + 1))

    def check_genotype(self, genotype: Genotype) -> None:
        if getattr(genotype, "space", None) != self.name:
            raise GenotypeError(f"this is a {self.name} space but the genotype is of space "
                                f"{getattr(genotype, 'space', type(genotype).__name__)!r}; pass --space "
                                f"{getattr(genotype, 'space', '')} or a {self.name} genotype")

    # -- costs: one structure says which pieces each choice runs ---------------------------------
    @abstractmethod
    def fixed_pieces(self) -> List[Piece]:
        """Pieces every genotype runs (stem, head, cell glue)."""

    @abstractmethod
    def choice_pieces(self) -> Dict[str, List[List[List[Piece]]]]:
        """group -> position -> candidate -> the pieces the final network runs for that choice.

        Priced by :meth:`cost_arrays` and combined by :meth:`expected_cost` (where a space
        overrides those, it says what this map then prices).
        """

    def cost_arrays(self, lookup: Callable[[Piece], float]) -> CostArrays:
        """Every choice's cost under ``lookup`` (ms, parameters, FLOPs), summed over its pieces;
        what :meth:`expected_cost` reads."""
        def total(pieces: List[Piece]) -> float:
            return float(sum(lookup(p) for p in pieces))

        return CostArrays(fixed=total(self.fixed_pieces()),
                          choice={g: np.array([[total(c) for c in pos] for pos in positions])
                                  for g, positions in self._structure().items()})

    def costs(self, lookup: Callable[[Piece], float], fixed: float = 0.0, built: bool = False) -> Costs:
        """The cost of every network when each piece costs ``lookup(piece)`` (a table's latency),
        plus ``fixed`` per run; ``built``: of what the network builds (parameters), not runs."""
        return Costs(self, self.cost_arrays(lookup).shifted(fixed), built=built)

    def _structure(self) -> Dict[str, List[List[List[Piece]]]]:
        cached = self.__dict__.get("_choice_pieces")
        if cached is None:
            cached = self.__dict__["_choice_pieces"] = self.choice_pieces()
        return cached

    def choice_weights(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """Architecture weights (rows of ``x``: encoded genotypes) that run exactly those genotypes:
        group -> array (genotypes, positions, candidates) of how often each choice is made.

        This default serves spaces with one group whose variables each choose one candidate.
        """
        x = np.atleast_2d(np.asarray(x))
        (group, (positions, candidates)), = self.arch_shapes().items()
        column = np.array([self.candidates.index(op) for op in self.ops])
        w = np.zeros((len(x), positions, candidates))
        w[np.arange(len(x))[:, None], np.arange(positions)[None, :], column[x]] = 1.0
        return {group: w}

    @abstractmethod
    def expected_cost(self, weights: Dict[str, torch.Tensor], costs: TorchCosts, built: bool = False) -> torch.Tensor:
        """The cost of the network(s) that architecture weights describe; differentiable in them.

        ``weights`` hold probabilities (the search) or :meth:`choice_weights` (genotypes, where
        the result is exact); leading dimensions are batch dimensions. ``built`` counts what the
        network builds (parameters) instead of what it runs (latency, FLOPs).
        """

    def _piece_count(self, kind: str, piece: Piece) -> float:
        """Parameters or multiply-adds of one piece (cached), counted like whole networks."""
        from hwnas.core.counting import count_flops, count_params

        cache = self.__dict__.setdefault(f"_piece_{kind}", {})
        if piece.key not in cache:
            module, shapes = self.build_piece(piece)
            if kind == "params":
                cache[piece.key] = float(count_params(module))
            else:  # sums and concatenations do no multiply-adds (fvcore does not count them either)
                cache[piece.key] = float(count_flops(module, shapes[0][1:])) if len(shapes) == 1 else 0.0
        return cache[piece.key]

    @property
    def params(self) -> Costs:
        """Parameters of every final network, without building them (every module of a final
        network is one piece, so pieces' parameters add up exactly)."""
        if "_params" not in self.__dict__:
            self.__dict__["_params"] = self.costs(lambda p: self._piece_count("params", p), built=True)
        return self.__dict__["_params"]

    @property
    def flops(self) -> Costs:
        """FLOPs (multiply-adds) of every final network, without building them."""
        if "_flops" not in self.__dict__:
            self.__dict__["_flops"] = self.costs(lambda p: self._piece_count("flops", p))
        return self.__dict__["_flops"]

    def op_variables(self) -> np.ndarray:
        """Indices of the variables that choose an operation (the others choose inputs)."""
        return np.arange(self.num_vars)

    def variable_ops(self, var: int) -> Tuple[str, ...]:
        """The operations an operation variable (:meth:`op_variables`) chooses among, by value."""
        return self.ops

    def var_groups(self) -> List[List[int]]:
        """Groups of variables whose latency contributions add up independently across groups."""
        return [[i] for i in range(self.num_vars)]

    # -- search (supernet, derivation, per-position costs) ------------------------------------
    @abstractmethod
    def supernet(self, partial: int = 1, batch_edges: bool = True) -> nn.Module:
        """The search network: ``forward(x, weights)`` with ``weights`` shaped as :meth:`arch_shapes`;
        ``partial=K`` sends 1/K of the channels through the mixed operations (PC-DARTS);
        ``batch_edges``: positions reading one input run batched, where the space does (DARTS, K>1)."""

    def edge_nodes(self) -> Optional[Dict[str, List[int]]]:
        """For spaces whose derivation ranks a node's incoming edges (DARTS): group -> the node of
        each position, for edge normalisation; ``None`` where every edge is kept."""
        return None

    @abstractmethod
    def arch_shapes(self) -> Dict[str, Tuple[int, int]]:
        """Architecture weight groups: name -> (positions, candidates)."""

    @abstractmethod
    def derive(self, weights: Dict[str, np.ndarray], max_skip: Optional[int] = None) -> Genotype:
        """The genotype the space's rule derives from architecture weights."""

    @abstractmethod
    def choice_score(self, genotype: Genotype, probs: Dict[str, np.ndarray]) -> float:
        """Sum of log-probabilities of the genotype's choices under architecture probabilities."""

    # -- networks ----------------------------------------------------------------------------
    @abstractmethod
    def build(self, genotype: Genotype) -> nn.Module:
        """The final network of ``genotype`` (weights freshly initialised)."""

    # -- latency-table keys ------------------------------------------------------------------
    def one_hot_weights(self, genotype: Genotype) -> Dict[str, np.ndarray]:
        """Architecture weights that make the supernet compute exactly ``genotype``."""
        return {g: w[0] for g, w in self.choice_weights(self.encode(genotype)[None]).items()}

    def pieces(self, genotype: Genotype) -> List[Piece]:
        """Every piece the final network of ``genotype`` runs, with repeats (one per use)."""
        pieces = list(self.fixed_pieces())
        structure = self._structure()
        for group, w in self.one_hot_weights(genotype).items():
            for pos, cand in zip(*np.nonzero(w)):
                pieces += structure[group][pos][cand] * int(w[pos, cand])
        return pieces

    def all_pieces(self) -> List[Piece]:
        """Every distinct piece any genotype of this configuration can use (what to profile)."""
        pieces = set(self.fixed_pieces())
        for positions in self._structure().values():
            pieces.update(p for pos in positions for cand in pos for p in cand)
        return sorted(pieces)

    def build_piece(self, piece: Piece) -> Tuple[nn.Module, List[Shape]]:
        """The module of one piece and the shapes (batch 1) of its inputs."""
        shape = (1, piece.c_in, piece.size, piece.size)
        if piece.op == "add":
            return Sum(), [shape] * piece.arity
        if piece.op == "concat":
            return Concat(), [shape] * piece.arity
        builder = self._fixed_builders().get(piece.op)
        if builder is not None:
            return builder(piece), [shape]
        return build_op(piece.op, piece.c_in, piece.c_out, piece.stride), [shape]

    def _fixed_builders(self) -> Dict[str, Callable[[Piece], nn.Module]]:
        """Builders of this space's fixed parts (stem, head, ...), keyed by piece op name."""
        return {}
