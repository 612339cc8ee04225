"""Genotypes: the architecture a search finds, in a JSON form users can read and paste.

Three forms, by the kind of space:

- ``darts``: the field names of the original DARTS code, so a published genotype can be pasted
  in: ``{"space": "darts", "normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5],
  "reduce": [...], "reduce_concat": [2, 3, 4, 5]}``.
- ``nb201``: the NAS-Bench-201 architecture string,
  ``{"space": "nb201", "arch": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|...|"}``.
- chains of layers (``fbnet``, ``mbv3``, a space file): one operation per searchable layer,
  ``{"space": "fbnet", "ops": ["k3_e1", ...]}``; a space file's adds ``space_file`` and
  ``space_hash``.

Validation errors name the bad field and the allowed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from hwnas.core import fileio

FORMAT_VERSION = 1

# Operation vocabularies, in the order of the reference code (DARTS' PRIMITIVES, NAS-Bench-201's
# search space). Their index is the integer encoding of an op.
DARTS_OPS: Tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
# A derived DARTS cell never contains `none`: it is what the derivation rule excludes.
DARTS_CELL_OPS: Tuple[str, ...] = DARTS_OPS[1:]
NB201_OPS: Tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

DARTS_STEPS = 4  # intermediate nodes per DARTS cell
DARTS_CONCAT = (2, 3, 4, 5)
NB201_NODES = 4
# NAS-Bench-201 edges (to, from) in the order of the architecture string.
NB201_EDGES: Tuple[Tuple[int, int], ...] = tuple((to, src) for to in range(1, NB201_NODES) for src in range(to))
FBNET_LAYERS = 22


class GenotypeError(ValueError):
    """A genotype that does not fit its space; the message names the field and what is allowed."""


def _choice(value: Any, allowed: Sequence[str], where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise GenotypeError(f"{where}: {value!r} is not an operation of this space; allowed: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS normal and reduction cell: 4 nodes x 2 (operation, input) pairs each."""

    normal: Tuple[Tuple[str, int], ...]
    reduce: Tuple[Tuple[str, int], ...]
    normal_concat: Tuple[int, ...] = DARTS_CONCAT
    reduce_concat: Tuple[int, ...] = DARTS_CONCAT
    space: ClassVar[str] = "darts"

    def __post_init__(self) -> None:
        for field in ("normal", "reduce"):
            cell = getattr(self, field)
            if not isinstance(cell, (list, tuple)) or len(cell) != 2 * DARTS_STEPS:
                raise GenotypeError(f"{field}: expected {2 * DARTS_STEPS} [operation, input] pairs "
                                    f"(2 per node, {DARTS_STEPS} nodes), got {cell!r}")
            pairs = []
            for k, pair in enumerate(cell):
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise GenotypeError(f"{field}[{k}]: expected [operation, input], got {pair!r}")
                op = _choice(pair[0], DARTS_CELL_OPS, f"{field}[{k}][0]")
                node = k // 2
                src = pair[1]
                if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src <= node + 1:
                    raise GenotypeError(f"{field}[{k}][1]: node {node + 2} can take input 0..{node + 1} "
                                        f"(0, 1 = the two previous cells, 2.. = earlier nodes), got {src!r}")
                pairs.append((op, int(src)))
            object.__setattr__(self, field, tuple(pairs))
        for field in ("normal_concat", "reduce_concat"):
            concat = tuple(getattr(self, field))
            if concat != DARTS_CONCAT:
                raise GenotypeError(f"{field}: hwnas' DARTS space concatenates all intermediate nodes, "
                                    f"expected {list(DARTS_CONCAT)}, got {list(concat)}")
            object.__setattr__(self, field, concat)

    def to_dict(self) -> dict:
        return {
            "space": self.space,
            "normal": [list(p) for p in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(p) for p in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DartsGenotype":
        _check_keys(d, {"space", "normal", "normal_concat", "reduce", "reduce_concat", "format_version"},
                    {"normal", "reduce"})
        concat = {}
        for field in ("normal_concat", "reduce_concat"):
            value = d.get(field, DARTS_CONCAT)
            if not isinstance(value, (list, tuple)):
                raise GenotypeError(f"{field}: a list of node numbers, expected {list(DARTS_CONCAT)}, got {value!r}")
            concat[field] = tuple(value)
        return cls(normal=d["normal"], reduce=d["reduce"], **concat)


@dataclass(frozen=True)
class NB201Genotype:
    """A NAS-Bench-201 cell: one operation on each of the 6 edges of a 4-node DAG."""

    arch: str
    space: ClassVar[str] = "nb201"

    def __post_init__(self) -> None:
        self._parse(self.arch)

    @staticmethod
    def _parse(arch: Any) -> Tuple[str, ...]:
        example = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
        if not isinstance(arch, str):
            raise GenotypeError(f"arch: expected a NAS-Bench-201 string such as {example}, got {arch!r}")
        nodes = arch.split("+")
        if len(nodes) != NB201_NODES - 1:
            raise GenotypeError(f"arch: expected {NB201_NODES - 1} node groups joined by '+', such as {example}; "
                                f"got {arch!r}")
        ops = []
        for to, group in enumerate(nodes, start=1):
            items = [item for item in group.strip().strip("|").split("|")]
            if len(items) != to:
                raise GenotypeError(f"arch: node {to} needs {to} incoming edges, got {group!r} (example: {example})")
            for src, item in enumerate(items):
                op, sep, index = item.partition("~")
                if sep != "~" or index != str(src):
                    raise GenotypeError(f"arch: edge {item!r} into node {to} should read 'OP~{src}' (example: {example})")
                ops.append(_choice(op, NB201_OPS, f"arch edge {src}->{to}"))
        return tuple(ops)

    @property
    def ops(self) -> Tuple[str, ...]:
        """Operations in the order of :data:`NB201_EDGES`."""
        return self._parse(self.arch)

    @classmethod
    def from_ops(cls, ops: Sequence[str]) -> "NB201Genotype":
        if len(ops) != len(NB201_EDGES):
            raise GenotypeError(f"ops: expected {len(NB201_EDGES)} operations, got {len(ops)}")
        groups, k = [], 0
        for to in range(1, NB201_NODES):
            groups.append("|" + "|".join(f"{ops[k + src]}~{src}" for src in range(to)) + "|")
            k += to
        return cls("+".join(groups))

    def to_dict(self) -> dict:
        return {"space": self.space, "arch": self.arch}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NB201Genotype":
        _check_keys(d, {"space", "arch", "format_version"}, {"arch"})
        return cls(d["arch"])


@dataclass(frozen=True)
class LayerGenotype:
    """One operation per searchable layer of a chain of layers (FBNet, mbv3, a space file), in
    the order of the layers; the space checks each against its layer's candidates. A space
    described in a file adds the file and the hash of its description."""

    space: str
    ops: Tuple[str, ...]
    space_file: Optional[str] = None
    space_hash: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.ops, (list, tuple)) or not self.ops or not all(isinstance(op, str) for op in self.ops):
            raise GenotypeError(f"ops: expected a list of operation names, one per searchable layer; got {self.ops!r}")
        object.__setattr__(self, "ops", tuple(self.ops))

    def to_dict(self) -> dict:
        extra = {"space_file": self.space_file, "space_hash": self.space_hash} if self.space_file else {}
        return {"space": self.space, "ops": list(self.ops), **extra}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LayerGenotype":
        _check_keys(d, {"space", "ops", "space_file", "space_hash", "format_version"}, {"ops"})
        return cls(str(d["space"]), d["ops"], d.get("space_file"), d.get("space_hash"))


Genotype = Union[DartsGenotype, NB201Genotype, LayerGenotype]
_CLASSES = {cls.space: cls for cls in (DartsGenotype, NB201Genotype)}


def _check_keys(d: Mapping[str, Any], allowed: set, required: set) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise GenotypeError(f"unknown field(s) {unknown}; a {d.get('space')} genotype has {sorted(allowed)}")
    missing = sorted(required - set(d))
    if missing:
        raise GenotypeError(f"missing field(s) {missing}")


def genotype_from_dict(d: Mapping[str, Any]) -> Genotype:
    """Build and validate a genotype from its JSON form."""
    if not isinstance(d, Mapping):
        raise GenotypeError(f"a genotype is a JSON object with a 'space' field, got {type(d).__name__}")
    space = d.get("space")
    if space not in _CLASSES and not (isinstance(space, str) and space and "ops" in d):
        raise GenotypeError(f"space: {space!r} is not a search space; allowed: {', '.join(_CLASSES)}, or a "
                            f"chain of layers' name (fbnet, mbv3, a space file's) with its 'ops'")
    version = d.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise GenotypeError(f"format_version: this hwnas reads version {FORMAT_VERSION}, the file has {version!r}")
    return _CLASSES.get(space, LayerGenotype).from_dict(d)


def skip_connections(genotype: Genotype) -> int:
    """Skip connections in the cell that the skip cap counts (DARTS: the normal cell;
    NAS-Bench-201: the cell; FBNet: none)."""
    if isinstance(genotype, DartsGenotype):
        return sum(op == "skip_connect" for op, _ in genotype.normal)
    if isinstance(genotype, NB201Genotype):
        return sum(op == "skip_connect" for op in genotype.ops)
    return 0


def genotype_to_dict(genotype: Genotype) -> dict:
    """The JSON form, with the format version."""
    return {**genotype.to_dict(), "format_version": FORMAT_VERSION}


def genotype_to_json(genotype: Genotype) -> str:
    """Compact one-line JSON (for CSV cells and logs)."""
    return json.dumps(genotype.to_dict(), separators=(",", ":"))


def save_genotype(genotype: Genotype, path: str | Path) -> None:
    """Write the genotype as JSON, atomically."""
    fileio.write_json(path, genotype_to_dict(genotype))


def load_genotype(source: str | Path) -> Genotype:
    """A genotype from a published name (:func:`list_genotypes`), a JSON file, or JSON text."""
    text = str(source)
    if text in _REGISTRY:
        return _REGISTRY[text].genotype
    if text.lstrip().startswith("{"):
        return genotype_from_dict(_parse_json(text, "the genotype text"))
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"genotype {text!r} is neither a file nor a published name; "
                                f"published: {', '.join(_REGISTRY)}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GenotypeError(f"{path} is not a text file: a genotype file is JSON (see hwnas search's "
                            f"genotype.json)") from None
    return genotype_from_dict(_parse_json(text, str(path)))


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenotypeError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:
        raise GenotypeError(f"{where} nests too deeply to be a genotype") from None


@dataclass(frozen=True)
class Published:
    """A genotype from the literature: where it comes from, the network options it was defined
    with (where they differ from its space's defaults), and its network's parameters at them."""

    name: str
    genotype: Genotype
    source: str
    params: int
    network: Tuple[Tuple[str, Any], ...] = ()


_REGISTRY: Dict[str, Published] = {}


def register_genotype(name: str, genotype: Genotype, source: str, params: int, **network: Any) -> None:
    """Make a published genotype loadable by its name (``hwnas train darts_v2``)."""
    if name in _REGISTRY:
        raise ValueError(f"genotype {name!r} is registered twice")
    _REGISTRY[name] = Published(name, genotype, source, params, tuple(sorted(network.items())))


def list_genotypes(space: Optional[str] = None) -> List[str]:
    """Names of the published genotypes (of one space), in the order they were registered."""
    return [name for name, p in _REGISTRY.items() if space is None or p.genotype.space == space]


def published(name: str) -> Published:
    """A published genotype's entry; an unknown name lists the known ones."""
    if name not in _REGISTRY:
        raise KeyError(f"{name!r} is not a published genotype; published: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _darts(normal: list, reduce: list) -> DartsGenotype:
    return DartsGenotype(normal=tuple(normal), reduce=tuple(reduce))


def _fbnet(stages: str) -> LayerGenotype:
    return LayerGenotype("fbnet", tuple(stages.replace("|", " ").split()))


_QUARK0 = "Liu et al. 2019, quark0/darts genotypes.py"
_MOBILE_VISION = "Wu et al. 2019, facebookresearch/mobile-vision FBNet model definitions"
_DARTS_V2 = _darts(
    [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
     ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
)
register_genotype("darts_v1", _darts(
    [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
     ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
), _QUARK0 + " (first order)", 3_169_414)
register_genotype("darts_v2", _DARTS_V2, _QUARK0 + " (second order; the paper's 3.3M)", 3_349_342)
register_genotype("darts", _DARTS_V2, _QUARK0 + " (darts_v2)", 3_349_342)
# FBNet stages separated by '|'; mobile-vision builds FBNet-B and FBNet-C with a 1984-channel last 1x1 conv
register_genotype("fbnet_a", _fbnet("skip | k3_e3 k3_e1 skip skip | k5_e6 k3_e3 k5_e1 k3_e3 | k5_e6 k5_e3 k5_e1_g2 k5_e6"
                                    " | k3_e6 k5_e1_g2 k5_e3 k3_e1_g2 | k5_e6 k5_e6 k5_e3 k5_e6 | k5_e6"),
                  _MOBILE_VISION + " (the paper's 4.3M)", 4_321_464)
register_genotype("fbnet_b", _fbnet("k3_e1 | k3_e6 k5_e1 k3_e1 k3_e1 | k5_e6 k5_e3 k3_e6 k5_e6 | k5_e6 k5_e6 skip k5_e3"
                                    " | k5_e6 k3_e1 k5_e1 k5_e3 | k5_e6 k5_e1 k5_e6 k5_e6 | k3_e6"),
                  _MOBILE_VISION + " (the paper reports 4.5M)", 4_863_288, head_channels=1984)
register_genotype("fbnet_c", _fbnet("k3_e1 | k3_e6 skip k3_e1 k3_e1 | k5_e6 k5_e3 k5_e6 k3_e6 | k5_e6 k5_e3 k5_e6 k5_e6"
                                    " | k5_e6 k5_e6 k5_e6 k5_e3 | k5_e6 k5_e6 k5_e6 k5_e6 | k3_e6"),
                  _MOBILE_VISION + " (the paper's 5.5M)", 5_572_200, head_channels=1984)

PUBLISHED: Dict[str, Genotype] = {name: p.genotype for name, p in _REGISTRY.items()}  # those above, by name
