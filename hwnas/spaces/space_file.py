"""Spaces declared in a YAML file: a chain of layers, each a fixed operation or a named choice.

    name: tiny                       # how runs, tables and genotypes name it
    network: {input_size: 32, in_channels: 3, num_classes: 10}   # the options' defaults
    min_final_size: 4                # small images drop the earliest strides down to this
    choices:                         # named candidate lists; {a,b} expands, as in a shell
      block: ["mb_k{3,5}_e{3,6}"]
      block_or_skip: ["mb_k{3,5}_e{3,6}", skip]
    layers:
      - {op: conv_3x3_bn_relu, channels: 16, stride: 2}
      - {choose: block, channels: 24, stride: 2}
      - {choose: block_or_skip, channels: 24, repeat: 2}
      - {op: classifier}             # the last layer: pooling and a linear layer to the classes

Operations are the registry's (:mod:`hwnas.spaces.ops`). ``hwnas --space FILE`` reads it; the
genotypes it gives record the file and a hash of its description, so a file changed since
refuses them. ``mbv3`` is such a file, shipped with hwnas.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

from hwnas.core import fileio
from hwnas.spaces.genotypes import Genotype, GenotypeError, LayerGenotype
from hwnas.spaces.ops import OPS
from hwnas.spaces.settings import SPACE_SETTINGS, layers_config
from hwnas.spaces.layers import Layer, LayerSpace, chain

TOP = {"name", "network", "min_final_size", "choices", "layers"}
LAYER = {"op", "choose", "channels", "stride", "repeat"}
NETWORK = {"input_size": 32, "in_channels": 3, "num_classes": 10}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class SpaceFileError(ValueError):
    """A space file that cannot describe a space (one line: the file, the place, what is wrong)."""


def expand(pattern: str) -> List[str]:
    """Shell-style alternatives: ``mb_k{3,5}{,_se}`` -> mb_k3, mb_k3_se, mb_k5, mb_k5_se."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    return [word for alt in match.group(1).split(",") for word in expand(head + alt + tail)]


@dataclass(frozen=True)
class Description:
    """A space file, checked: its layers as (name, ops, channels, stride, choice), classifier
    channels left 0 (the classes)."""

    name: str
    network: Tuple[Tuple[str, int], ...]
    min_final_size: int
    specs: Tuple[Tuple[str, Tuple[str, ...], int, int, Optional[str]], ...]

    @property
    def hash(self) -> str:
        """What the file describes, not how it is written: 12 hex digits."""
        text = json.dumps([self.name, self.network, self.min_final_size, self.specs], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _operation(name: Any, where: str) -> str:
    if not isinstance(name, str) or name not in OPS:
        close = difflib.get_close_matches(str(name), OPS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; the operations: {', '.join(sorted(OPS))}"
        raise SpaceFileError(f"{where}: {name!r} is not an operation{hint}")
    return name


def _count(value: Any, where: str, low: int = 1, allowed: Optional[Tuple[int, ...]] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (allowed and value not in allowed):
        want = " or ".join(map(str, allowed)) if allowed else f"an integer >= {low}"
        raise SpaceFileError(f"{where} must be {want}, got {value!r}")
    return value


def _choices(data: Any, where: str) -> Dict[str, Tuple[str, ...]]:
    if not isinstance(data, Mapping) or not data:
        raise SpaceFileError(f"{where}: expected named lists of operations, e.g. block: [mb_k3_e3, mb_k5_e6]")
    out = {}
    for name, ops in data.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SpaceFileError(f"{where}: {name!r} is not a choice name (letters, digits, _)")
        if not isinstance(ops, list) or not ops:
            raise SpaceFileError(f"{where}.{name}: expected a list of operations, got {ops!r}")
        words = [w for pattern in ops for w in (expand(pattern) if isinstance(pattern, str) else [pattern])]
        out[name] = tuple(dict.fromkeys(_operation(w, f"{where}.{name}") for w in words))
        if "classifier" in out[name]:
            raise SpaceFileError(f"{where}.{name}: the classifier is the last layer, not a choice")
        if len(out[name]) < 2:
            raise SpaceFileError(f"{where}.{name}: a choice needs two or more operations, got {list(out[name])}")
    return out


def _layers(data: Any, choices: Dict[str, Tuple[str, ...]], where: str) -> List[Tuple]:
    if not isinstance(data, list) or not data:
        raise SpaceFileError(f"{where}: expected a list of layers, each {{op: ...}} or {{choose: ...}}")
    specs = []
    for i, layer in enumerate(data):
        at = f"{where}[{i}]"
        if not isinstance(layer, Mapping):
            raise SpaceFileError(f"{at}: expected a mapping such as {{choose: block, channels: 24}}, got {layer!r}")
        unknown = sorted(set(layer) - LAYER)
        if unknown:
            raise SpaceFileError(f"{at}: unknown field {unknown[0]!r}; a layer has {', '.join(sorted(LAYER))}")
        if ("op" in layer) == ("choose" in layer):
            raise SpaceFileError(f"{at}: give either op (a fixed operation) or choose (a choice's name)")
        if "choose" in layer and (not isinstance(layer["choose"], str) or layer["choose"] not in choices):
            raise SpaceFileError(f"{at}.choose: {layer['choose']!r} is not among the choices "
                                 f"({', '.join(choices)})")
        ops = choices[layer["choose"]] if "choose" in layer else (_operation(layer["op"], f"{at}.op"),)
        last = i == len(data) - 1
        if (ops == ("classifier",)) != last:
            raise SpaceFileError(f"{at}: " + ("the last layer must be {op: classifier}" if last
                                              else "only the last layer is the classifier"))
        if last:
            if set(layer) - {"op"}:
                raise SpaceFileError(f"{at}: the classifier has no {sorted(set(layer) - {'op'})[0]} (its channels "
                                     f"are the classes)")
            specs.append(("classifier", ops, 0, 1, None))
            continue
        if "channels" not in layer:
            raise SpaceFileError(f"{at}: missing field 'channels' (its output channels)")
        channels = _count(layer["channels"], f"{at}.channels")
        stride = _count(layer.get("stride", 1), f"{at}.stride", allowed=(1, 2))
        for k in range(_count(layer.get("repeat", 1), f"{at}.repeat")):
            specs.append((f"layer{len(specs)}", ops, channels, stride if k == 0 else 1, layer.get("choose")))
    return specs


def read_description(path: Path) -> Description:
    """A space file, checked; each mistake is one line naming the place and the field."""
    if not path.is_file():
        raise SpaceFileError(f"space file {path} not found")
    data = fileio.read_yaml(path, "a space file is YAML (see hwnas/spaces/mbv3.yaml)")
    if not isinstance(data, Mapping):
        raise SpaceFileError(f"{path}: a space file is a mapping with {', '.join(sorted(TOP))}")
    unknown = sorted(set(data) - TOP)
    if unknown or not {"name", "choices", "layers"} <= set(data):
        what = f"unknown field {unknown[0]!r}" if unknown else \
            f"missing field {sorted({'name', 'choices', 'layers'} - set(data))[0]!r}"
        raise SpaceFileError(f"{path}: {what}; a space file has {', '.join(sorted(TOP))}")
    name = data["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SpaceFileError(f"{path}: name: {name!r} is not a space name (a letter, then letters, digits, _)")
    network = data.get("network") or {}
    if not isinstance(network, Mapping) or set(network) - set(NETWORK):
        raise SpaceFileError(f"{path}: network: expected defaults of {', '.join(NETWORK)}, got {network!r}")
    defaults = {k: _count(network.get(k, v), f"{path}: network.{k}") for k, v in NETWORK.items()}
    choices = _choices(data["choices"], f"{path}: choices")
    specs = _layers(data["layers"], choices, f"{path}: layers")
    if not any(spec[4] for spec in specs):
        raise SpaceFileError(f"{path}: layers: no layer chooses; a space needs at least one choose: layer")
    return Description(name, tuple(defaults.items()), _count(data.get("min_final_size", 4), f"{path}: min_final_size"),
                       tuple(specs))


class FileSpace(LayerSpace):
    """A space read from a file; :func:`space_class_from_file` makes one class per file."""

    description: Description
    file: Optional[Path] = None  # None: shipped with hwnas (mbv3), named by its name alone
    path: Path  # where it was read from (the shipped file too)

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickled as the file, the options and the description's hash (for Ray workers, say):
        the classes are made per file at run time, so they cannot be found by name."""
        return _rebuild, (str(self.path), self.file is None, asdict(self.settings), self.description.hash)

    def describe(self) -> List[Layer]:
        s = self.settings
        specs = [(n, ops, c or s.num_classes, stride, choice) for n, ops, c, stride, choice in self.description.specs]
        return chain(specs, s.in_channels, s.input_size, self.description.min_final_size)

    @property
    def source(self) -> str:
        return str(self.file) if self.file else self.name

    @property
    def table_name(self) -> str:
        return f"{self.name}-{self.description.hash[:8]}" if self.file else self.name

    def config(self) -> Dict[str, Any]:
        extra = {"space_file": str(self.file), "space_hash": self.description.hash} if self.file else {}
        return {**super().config(), **extra}

    def genotype(self, ops) -> LayerGenotype:
        if self.file is None:
            return super().genotype(ops)
        return LayerGenotype(self.name, tuple(ops), str(self.file), self.description.hash)

    def check_genotype(self, genotype: Genotype) -> None:
        theirs = getattr(genotype, "space_hash", None)
        if self.file is not None and theirs and theirs != self.description.hash:
            raise GenotypeError(f"this genotype was found in the space {self.name} as described then (hash "
                                f"{theirs}); {self.file} now describes another (hash {self.description.hash}): "
                                f"restore the file as it was, or search again")
        super().check_genotype(genotype)


_LOADED: Dict[Tuple[str, str], Type[FileSpace]] = {}


def _rebuild(path: str, builtin: bool, options: Dict[str, Any], described: str) -> FileSpace:
    """A pickled :class:`FileSpace` again, refused where its file now describes another space."""
    cls = space_class_from_file(path, builtin=builtin)
    if cls.description.hash != described:
        raise SpaceFileError(f"{path} has changed since this space was sent (its hash was {described[:12]}, is "
                             f"{cls.description.hash[:12]}): restore the file as it was")
    return cls(**options)


def space_class_from_file(path: str | Path, builtin: bool = False) -> Type[FileSpace]:
    """The space class a file describes (one per file and description)."""
    path = Path(path).resolve() if not builtin else Path(path)
    description = read_description(path)
    if not builtin and description.name in SPACE_SETTINGS:
        raise SpaceFileError(f"{path}: name: {description.name!r} is a built-in space's; give the file's space "
                             f"another name")
    key = (str(path), description.hash)
    if key not in _LOADED:
        config = layers_config(**dict(description.network))
        _LOADED[key] = type(f"{description.name}_space", (FileSpace,), {
            "name": description.name, "Config": config, "description": description,
            "file": None if builtin else path, "path": path, "__doc__": f"The space {description.name}, read from {path.name}."})
    return _LOADED[key]
