"""The registry of search spaces: each space registers its class; its settings dataclass
(``Config``, from :mod:`hwnas.core.space_settings`) names the table files and the profile
commands that rebuild them."""

from __future__ import annotations

import shlex
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Type

from hwnas.core.space_settings import dashed, flag_values, is_space_file, options_from_flags, slug

if TYPE_CHECKING:
    from hwnas.core.genotype import Genotype
    from hwnas.spaces.base import SearchSpace

SPACES: Dict[str, Type["SearchSpace"]] = {}


def register_space(cls: Type["SearchSpace"]) -> Type["SearchSpace"]:
    """Class decorator: make a space available by its ``name``."""
    SPACES[cls.name] = cls
    return cls


def list_spaces() -> List[str]:
    """Names of the built-in spaces (a space file is named by its path)."""
    return list(SPACES)


def space_class(name: str) -> Type["SearchSpace"]:
    """A built-in space by name, or the space a file describes (``--space path/to/space.yaml``)."""
    from hwnas.spaces.space_file import space_class_from_file

    if name in SPACES:
        return SPACES[name]
    if is_space_file(name):
        return space_class_from_file(name)
    raise ValueError(f"unknown search space {name!r}; choose one of {', '.join(SPACES)}, or name a space file "
                     f"(.yaml)")


def make_space(name: str, **flags: Any) -> "SearchSpace":
    """A space at one configuration, from command-line option names (``layers``,
    ``input_size``...); options left ``None`` take the space's defaults."""
    cls = space_class(name)
    return cls(**options_from_flags(cls.Config, name, flags))


def space_from_config(config: Dict[str, Any]) -> "SearchSpace":
    """Rebuild a space from :meth:`SearchSpace.config` (as stored with tables and runs)."""
    config = dict(config)
    name, file, described = config.pop("space"), config.pop("space_file", None), config.pop("space_hash", None)
    space = space_class(file or name)(**config)
    if described and space.config().get("space_hash") != described:
        raise ValueError(f"{file} has changed since this was made with it (its description's hash was {described}, "
                         f"is {space.config().get('space_hash')}): restore the file as it was")
    return space


def space_for(genotype: "Genotype", **flags: Any) -> "SearchSpace":
    """The space a genotype belongs to (its file's, for a space from a file), at the given options."""
    file = getattr(genotype, "space_file", None)
    if file and not Path(file).is_file():
        raise ValueError(f"the genotype's space {genotype.space} was read from {file}, which is not there now; pass "
                         f"--space with where that file is")
    return make_space(file or genotype.space, **flags)


def config_slug(space: "SearchSpace") -> str:
    """The latency table file name (without ``.csv``) of a space configuration."""
    return slug(space.table_name, space.settings)


def profile_command(device: str, space: "SearchSpace", tables_dir: Optional[str | Path] = None,
                    force: bool = False) -> str:
    """The ``hwnas profile`` command that (re)builds a space configuration's table on ``device``
    (as the user named it: a name, ``cuda:N`` or a YAML path), as it can be pasted."""
    args = [f"{dashed(flag)} {shlex.quote(str(value))}" for flag, value in flag_values(space.settings).items()]
    if tables_dir is not None:
        args.append(f"--tables-dir {shlex.quote(str(tables_dir))}")
    if force:
        args.append("--force")
    return f"hwnas profile --device {shlex.quote(str(device))} --space {shlex.quote(space.source)} " + " ".join(args)


def with_flags(space: "SearchSpace", **flags: Any) -> "SearchSpace":
    """The same space with some command-line options changed (e.g. ``layers`` for a deeper proxy)."""
    changed = options_from_flags(space.Config, space.source, flags)
    return type(space)(**{**asdict(space.settings), **changed})
