"""The registry of search spaces: each space registers its class, and its settings dataclass
(``Config``) says everything else: command-line options, table file names, profile commands."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Type

from hwnas.spaces.options import dashed, flag_of, flag_values, options_from_flags, slug

if TYPE_CHECKING:
    from hwnas.core.genotype import Genotype
    from hwnas.spaces.base import SearchSpace

SPACES: Dict[str, Type["SearchSpace"]] = {}


def register_space(cls: Type["SearchSpace"]) -> Type["SearchSpace"]:
    """Class decorator: make a space available by its ``name``."""
    SPACES[cls.name] = cls
    return cls


def space_class(name: str) -> Type["SearchSpace"]:
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {', '.join(SPACES)}")
    return SPACES[name]


def make_space(name: str, **flags: Any) -> "SearchSpace":
    """A space at one configuration, from command-line option names (``layers``,
    ``input_size``...); options left ``None`` take the space's defaults."""
    cls = space_class(name)
    return cls(**options_from_flags(cls.Config, name, flags))


def space_from_config(config: Dict[str, Any]) -> "SearchSpace":
    """Rebuild a space from :meth:`SearchSpace.config` (as stored with tables and runs)."""
    config = dict(config)
    return space_class(config.pop("space"))(**config)


def space_for(genotype: "Genotype", **flags: Any) -> "SearchSpace":
    """The space a genotype belongs to, at the given options."""
    return make_space(genotype.space, **flags)


@dataclasses.dataclass
class NetworkFlag:
    """One command-line network option, merged over the spaces that have it."""

    name: str
    kind: type
    help: str
    choices: Optional[List[str]] = None


def network_flags() -> List[NetworkFlag]:
    """Every space's command-line options, with each space's help and default in one text."""
    merged: Dict[str, List[Any]] = {}
    for space, cls in SPACES.items():
        for f in dataclasses.fields(cls.Config):
            if flag_of(f):
                merged.setdefault(flag_of(f), []).append((space, f))
    flags = []
    for name, uses in merged.items():
        first = uses[0][1]
        kind = {"int": int, "bool": bool, "str": str}.get(str(first.type), str)
        helps = {f.metadata["help"] for _, f in uses}
        if kind is bool:
            text = "; ".join(f"{space}: {f.metadata['help']}" for space, f in uses)
        elif len(helps) == 1 and len({f.default for _, f in uses}) == 1:
            text = f"{first.metadata['help']} ({first.default})"
        elif len(helps) == 1:
            text = f"{first.metadata['help']} ({', '.join(f'{space} {f.default}' for space, f in uses)})"
        else:
            text = "; ".join(f"{space}: {f.metadata['help']} ({f.default})" for space, f in uses)
        choices = first.metadata.get("choices")
        flags.append(NetworkFlag(name, kind, text, list(choices) if choices else None))
    return flags


def config_slug(space: "SearchSpace") -> str:
    """The latency table file name (without ``.csv``) of a space configuration."""
    return slug(space.name, space.settings)


def profile_command(device: str, space: "SearchSpace", tables_dir: Optional[str | Path] = None,
                    force: bool = False) -> str:
    """The ``hwnas profile`` command that (re)builds a space configuration's table on ``device``
    (as the user named it: a name, ``cuda:N`` or a YAML path), as it can be pasted."""
    args = [f"{dashed(flag)} {shlex.quote(str(value))}" for flag, value in flag_values(space.settings).items()]
    if tables_dir is not None:
        args.append(f"--tables-dir {shlex.quote(str(tables_dir))}")
    if force:
        args.append("--force")
    return f"hwnas profile --device {shlex.quote(str(device))} --space {space.name} " + " ".join(args)
