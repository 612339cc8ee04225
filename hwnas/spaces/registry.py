"""The registry of search spaces: where each built-in space is defined (one line per space,
imported when first named), and the spaces users register. A space's settings dataclass
(``Config``, from :mod:`hwnas.spaces.settings`) names the table files and the profile commands
that rebuild them."""

from __future__ import annotations

import shlex
from dataclasses import asdict
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Type

from hwnas.spaces.settings import dashed, flag_values, is_space_file, options_from_flags, slug

if TYPE_CHECKING:
    from hwnas.spaces.genotypes import Genotype
    from hwnas.spaces.base import SearchSpace

# The built-in spaces, in the order they are listed: ``module:class``, or a space file shipped here.
BUILTIN: Dict[str, str] = {"darts": "hwnas.spaces.darts:DartsSpace", "nb201": "hwnas.spaces.nb201:NB201Space",
                           "fbnet": "hwnas.spaces.fbnet:FBNetSpace", "mbv3": "mbv3.yaml"}
_REGISTERED: Dict[str, Type["SearchSpace"]] = {}


def register_space(cls: Type["SearchSpace"]) -> Type["SearchSpace"]:
    """Make a space class (a user's) available to :func:`make_space` by its ``name``, from Python;
    usable as a class decorator. (The command line names built-in spaces and space files.)"""
    if cls.name in BUILTIN:
        raise ValueError(f"{cls.name!r} is a built-in space's name; give your space another")
    _REGISTERED[cls.name] = cls
    return cls


def list_spaces() -> List[str]:
    """Names of the spaces: the built-in ones, then those registered (a space file is named by its path)."""
    return [*BUILTIN, *_REGISTERED]


@lru_cache(maxsize=None)
def _builtin(name: str) -> Type["SearchSpace"]:
    from hwnas.spaces.space_file import space_class_from_file

    where = BUILTIN[name]
    if ":" not in where:
        return space_class_from_file(Path(__file__).with_name(where), builtin=True)
    module, cls = where.split(":")
    return getattr(import_module(module), cls)


def space_class(name: str) -> Type["SearchSpace"]:
    """A space by name, or the space a file describes (``--space path/to/space.yaml``)."""
    from hwnas.spaces.space_file import space_class_from_file

    if name in BUILTIN:
        return _builtin(name)
    if name in _REGISTERED:
        return _REGISTERED[name]
    if is_space_file(name):
        return space_class_from_file(name)
    raise ValueError(f"unknown search space {name!r}; choose one of {', '.join(list_spaces())}, or name a space "
                     f"file (.yaml)")


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
