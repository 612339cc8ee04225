"""Spaces whose network is a chain of layers, described once, as data.

A description is a list of :class:`Layer` s: each runs one fixed operation or chooses one among
candidates (a named choice: layers of one choice share a group of architecture weights), with
its channels, stride and input size. Everything else derives from that list: the final network
(each layer built from its piece), the supernet (a mixed operation per choosing layer), the
pieces a latency table times, the genotype's encoding, and the costs (layers add up alone).
FBNet, mbv3 and spaces from files (:mod:`hwnas.spaces.space_file`) are such chains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hwnas.spaces.genotypes import Genotype, GenotypeError, LayerGenotype
from hwnas.spaces.base import Piece, SearchSpace, conv_out
from hwnas.spaces.costs import TorchCosts, linear_cost


@dataclass(frozen=True)
class Layer:
    """One layer: ``ops`` holds its one operation (fixed) or its candidates (``choice`` names
    the group of architecture weights it belongs to)."""

    name: str
    ops: Tuple[str, ...]
    c_in: int
    c_out: int
    stride: int
    size: int
    choice: Optional[str] = None

    def piece(self, op: str) -> Piece:
        return Piece(op, self.c_in, self.c_out, self.stride, self.size)


def fit_strides(strides: Sequence[int], input_size: int, min_final_size: int) -> List[int]:
    """Strides with the earliest stride-2 positions set to 1 until the last feature map is at
    least ``min_final_size`` wide (small images keep the later reductions)."""
    strided = [i for i, s in enumerate(strides) if s == 2]
    keep = min(len(strided), max(0, int(math.floor(math.log2(max(input_size, 1) / min_final_size)))))
    out = list(strides)
    for i in strided[:len(strided) - keep]:
        out[i] = 1
    return out


def chain(specs: Sequence[Tuple[str, Tuple[str, ...], int, int, Optional[str]]], in_channels: int,
          input_size: int, min_final_size: int) -> List[Layer]:
    """Layers from (name, ops, channels out, stride, choice) in order: each layer's input is the
    one before's output; strides fitted to the input size (:func:`fit_strides`)."""
    strides = fit_strides([s for _, _, _, s, _ in specs], input_size, min_final_size)
    layers, c, size = [], in_channels, input_size
    for (name, ops, c_out, _, choice), stride in zip(specs, strides):
        layers.append(Layer(name, tuple(ops), c, c_out, stride, size, choice))
        c, size = c_out, conv_out(size, stride)
    return layers


def chain_keys(state: Mapping[str, Any]) -> Dict[str, Any]:
    """A state dict with FBNet's earlier names (``stem.``, ``layers.i.``, ``head.``, saved by
    hwnas before FBNet became a chain of layers) renamed to the chain's (``layers.0.`` the stem,
    ``layers.i+1.``, the head last); others as they are. The modules, and so their parameters'
    order, are the same."""
    if not any(k.startswith("stem.") for k in state):
        return dict(state)
    last = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("layers.")), default=-1)
    renamed = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head == "stem":
            key = f"layers.0.{rest}"
        elif head == "layers":
            i, _, rest = rest.partition(".")
            key = f"layers.{int(i) + 1}.{rest}"
        elif head == "head":
            key = f"layers.{last + 1}.{rest}"
        renamed[key] = value
    return renamed


class ChainState(nn.Module):
    """Loads state dicts of FBNet's earlier module names too (:func:`chain_keys`)."""

    def load_state_dict(self, state_dict: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        return super().load_state_dict(chain_keys(state_dict), *args, **kwargs)


class LayerNetwork(ChainState):
    """The network of one genotype: each layer's chosen operation, in order."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LayerSupernet(ChainState):
    """The search network: fixed layers as built, a mixed operation per choosing layer;
    ``forward(x, weights)`` with one row of ``weights[choice]`` per layer of that choice."""

    def __init__(self, space: "LayerSpace") -> None:
        super().__init__()
        from hwnas.spaces.mixed import MixedOp

        rows = iter(space.rows)
        self.rows = [next(rows) if layer.choice else (None, 0) for layer in space.layers]
        self.layers = nn.ModuleList(
            MixedOp(layer.ops, layer.c_in, layer.c_out, layer.stride, affine=True) if layer.choice
            else space.build_piece(layer.piece(layer.ops[0]))[0] for layer in space.layers)

    def forward(self, x: torch.Tensor, weights: Dict[str, torch.Tensor]) -> torch.Tensor:
        for module, (choice, row) in zip(self.layers, self.rows):
            x = module(x) if choice is None else module(x, weights[choice][row])
        return x


class LayerSpace(SearchSpace):
    """A space whose network is a chain of :class:`Layer` s; a subclass says which
    (:meth:`describe`, from its settings)."""

    proxy: Dict[str, int] = {}
    tiny_proxy: Dict[str, int] = {}

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.layers: List[Layer] = self.describe()
        self.choosing = [layer for layer in self.layers if layer.choice is not None]
        self.groups: Dict[str, Tuple[str, ...]] = {}
        self.rows: List[Tuple[str, int]] = []  # each choosing layer's (group, row) of architecture weights
        for layer in self.choosing:
            if self.groups.setdefault(layer.choice, layer.ops) != layer.ops:
                raise ValueError(f"layer {layer.name}: choice {layer.choice!r} has other candidates in another layer")
            self.rows.append((layer.choice, sum(choice == layer.choice for choice, _ in self.rows)))
        self.candidates = tuple(dict.fromkeys(op for ops in self.groups.values() for op in ops))
        self.ops = self.candidates

    def describe(self) -> List[Layer]:
        """The layers, from the settings."""
        raise NotImplementedError

    def genotype(self, ops: Sequence[str]) -> LayerGenotype:
        return LayerGenotype(self.name, tuple(ops))

    # -- encoding ----------------------------------------------------------------------------
    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return (np.zeros(len(self.choosing), dtype=np.int64),
                np.array([len(layer.ops) - 1 for layer in self.choosing], dtype=np.int64))

    def check_genotype(self, genotype: Genotype) -> None:
        super().check_genotype(genotype)
        if len(genotype.ops) != len(self.choosing):
            raise GenotypeError(f"ops: the {self.name} space has {len(self.choosing)} searchable layers, "
                                f"the genotype lists {len(genotype.ops)}")
        for i, (op, layer) in enumerate(zip(genotype.ops, self.choosing)):
            if op not in layer.ops:
                raise GenotypeError(f"ops[{i}]: {op!r} is not a candidate of layer {layer.name}; its candidates: "
                                    f"{', '.join(layer.ops)}")

    def encode(self, genotype: Genotype) -> np.ndarray:
        self.check_genotype(genotype)
        return np.array([layer.ops.index(op) for op, layer in zip(genotype.ops, self.choosing)], dtype=np.int64)

    def decode(self, x: Sequence[int]) -> LayerGenotype:
        x = self.check_vector(x)
        return self.genotype([layer.ops[int(v)] for v, layer in zip(x, self.choosing)])

    def variable_ops(self, var: int) -> Tuple[str, ...]:
        return self.choosing[var].ops

    def choice_weights(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        x = np.atleast_2d(np.asarray(x))
        out = {choice: np.zeros((len(x), shape[0], shape[1])) for choice, shape in self.arch_shapes().items()}
        for col, (choice, row) in enumerate(self.rows):
            out[choice][np.arange(len(x)), row, x[:, col]] = 1.0
        return out

    # -- networks and costs ------------------------------------------------------------------
    def build(self, genotype: Genotype) -> LayerNetwork:
        self.check_genotype(genotype)
        chosen = iter(genotype.ops)
        return LayerNetwork([self.build_piece(layer.piece(next(chosen) if layer.choice else layer.ops[0]))[0]
                             for layer in self.layers])

    def fixed_pieces(self) -> List[Piece]:
        return [layer.piece(layer.ops[0]) for layer in self.layers if layer.choice is None]

    def choice_pieces(self) -> Dict[str, List[List[List[Piece]]]]:
        return {choice: [[[layer.piece(op)] for op in layer.ops] for layer in self.choosing if layer.choice == choice]
                for choice in self.groups}

    def expected_cost(self, weights: Dict[str, torch.Tensor], costs: TorchCosts, built: bool = False) -> torch.Tensor:
        """Layers add up alone: sum of weight * cost."""
        return linear_cost(weights, costs)

    # -- search ------------------------------------------------------------------------------
    def supernet(self, partial: int = 1, batch_edges: bool = True) -> nn.Module:
        if partial > 1:
            raise ValueError(f"partial channels need mixed operations with as many channels out as in; the "
                             f"{self.name} space's layers change width: search it without --partial-channels")
        return LayerSupernet(self)

    def arch_shapes(self) -> Dict[str, Tuple[int, int]]:
        return {choice: (sum(layer.choice == choice for layer in self.choosing), len(ops))
                for choice, ops in self.groups.items()}

    def _rows(self, probs: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """Each choosing layer's row of architecture weights, in layer order."""
        return [np.asarray(probs[choice])[row] for choice, row in self.rows]

    def derive(self, weights: Dict[str, np.ndarray], max_skip: Optional[int] = None) -> LayerGenotype:
        """Argmax per layer."""
        return self.genotype([layer.ops[int(np.argmax(row))] for row, layer in zip(self._rows(weights), self.choosing)])

    def choice_score(self, genotype: Genotype, probs: Dict[str, np.ndarray]) -> float:
        x = self.encode(genotype)
        return float(sum(np.log(max(row[i], 1e-12)) for row, i in zip(self._rows(probs), x)))
