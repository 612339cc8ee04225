"""The search spaces' settings as data: one frozen dataclass per space, each field an option.

A field's metadata says how the option shows itself: its help text, the command-line flag
that sets it (``None``: not a command-line option), and its part in a latency table's file
name (``slug``: a short prefix; ``None``: the option does not change latency, so tables are
shared across its values). The command-line options, the table file names and the suggested
``hwnas profile`` commands are all generated from these fields. The settings need no torch,
so the command line is built without importing it; the spaces themselves are in
:mod:`hwnas.spaces`, each with its settings class as ``Config``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Type

_UNSET = object()


def option(default: Any, help: str, *, flag: Any = _UNSET, slug: Optional[str] = None,
           slug_default: bool = True, choices: Optional[Sequence[str]] = None) -> Any:
    """A dataclass field for one space option.

    ``flag``: the command-line flag's name without dashes (default: the field's name);
    ``slug``: prefix of the value in table file names (``""``: the bare value; ``None``: left
    out); ``slug_default``: whether the default value appears in file names too.
    """
    meta = {"help": help, "flag": flag, "slug": slug, "slug_default": slug_default, "choices": choices}
    return dataclasses.field(default=default, metadata=meta)


# The options most spaces share, declared once (each space gives its default).
def init_channels_option(default: int) -> Any:
    return option(default, "initial channels C", slug="c")


def input_size_option(default: int) -> Any:
    return option(default, "input height = width", slug="s")


def in_channels_option(default: int = 3) -> Any:
    return option(default, "input channels", slug="in")


def num_classes_option(default: int) -> Any:
    return option(default, "classes", slug="n")


def flag_of(f: dataclasses.Field) -> Optional[str]:
    """The command-line name (``init_channels``) of a field, or ``None`` for none."""
    flag = f.metadata.get("flag", _UNSET)
    return f.name if flag is _UNSET else flag


def dashed(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_options(config: Any) -> None:
    """Clear errors for values of the wrong kind (integers must be positive, choices known),
    then the settings' own rules (their ``check`` method)."""
    kinds = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        name = (flag_of(f) or f.name).replace("_", "-")
        if f.metadata.get("choices") and value not in f.metadata["choices"]:
            raise ValueError(f"{name} must be one of {', '.join(f.metadata['choices'])}, got {value!r}")
        if kinds[f.name] is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if kinds[f.name] is bool and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
    if hasattr(config, "check"):
        config.check()


def options_from_flags(config_class: type, space: str, values: Dict[str, Any]) -> Dict[str, Any]:
    """Field values from command-line names (``layers`` is NAS-Bench-201's ``cells_per_stage``).

    Values left ``None`` (or ``False`` for switches) take the space's defaults; a flag the space
    does not have is an error that lists the ones it has.
    """
    by_flag = {flag_of(f): f.name for f in dataclasses.fields(config_class) if flag_of(f)}
    out = {}
    for flag, value in values.items():
        if value is None or value is False:
            continue
        if flag not in by_flag:
            raise ValueError(f"{dashed(flag)} does not apply to the {space} space "
                             f"(its options: {', '.join(dashed(f) for f in by_flag)})")
        out[by_flag[flag]] = value
    return out


def slug(space: str, config: Any) -> str:
    """A file name for a configuration, e.g. ``darts-c36-l20-s32-in3-n10``."""
    parts = [space]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.metadata.get("slug") is None or (not f.metadata["slug_default"] and value == f.default):
            continue
        parts.append(f"{f.metadata['slug']}{value}")
    return "-".join(parts)


def flag_values(config: Any) -> Dict[str, Any]:
    """The command-line flags that rebuild ``config``'s latency table, with their values."""
    return {flag_of(f): getattr(config, f.name) for f in dataclasses.fields(config)
            if flag_of(f) and f.metadata.get("slug") is not None}


# ---------------------------------------------------------------------------------------------
# The spaces' settings


@dataclass(frozen=True)
class DartsConfig:
    """The DARTS network's settings; defaults are the CIFAR evaluation network."""

    init_channels: int = init_channels_option(36)
    layers: int = option(20, "cells", slug="l")
    input_size: int = input_size_option(32)
    in_channels: int = in_channels_option()
    num_classes: int = num_classes_option(10)
    auxiliary: bool = option(False, "add the auxiliary head (training only)")
    variant: str = option("cifar", "network variant", slug="", slug_default=False, choices=("cifar", "imagenet"))
    stem_multiplier: int = option(3, "stem channels per C (cifar variant)", flag=None, slug="m", slug_default=False)

    def check(self) -> None:
        if self.init_channels % 2:
            raise ValueError(f"init-channels must be even (reduction cells halve it into two branches), "
                             f"got {self.init_channels}")
        if self.layers < 3:
            raise ValueError(f"layers must be at least 3 (two reduction cells and a normal cell), got {self.layers}")


@dataclass(frozen=True)
class NB201Config:
    """The NAS-Bench-201 network's settings; defaults are the benchmark's CIFAR-10 network."""

    init_channels: int = init_channels_option(16)
    cells_per_stage: int = option(5, "cells per stage", flag="layers", slug="l")
    input_size: int = input_size_option(32)
    in_channels: int = in_channels_option()
    num_classes: int = num_classes_option(10)


@dataclass(frozen=True)
class FBNetConfig:
    """The FBNet network's settings; defaults are the paper's ImageNet network."""

    input_size: int = input_size_option(224)
    in_channels: int = in_channels_option()
    num_classes: int = num_classes_option(1000)
    head_channels: int = option(1504, "width of the last 1x1 conv", slug="h")


@dataclass(frozen=True)
class LayersConfig:
    """The settings of a space described as a chain of layers (mbv3, a space file): the input and
    the classes; a space file gives its own defaults (:func:`layers_config`)."""

    input_size: int = input_size_option(32)
    in_channels: int = in_channels_option()
    num_classes: int = num_classes_option(10)


def layers_config(input_size: int, in_channels: int, num_classes: int) -> Type[Any]:
    """:class:`LayersConfig` with other defaults."""
    return dataclasses.make_dataclass("LayersConfig", [
        ("input_size", int, input_size_option(input_size)), ("in_channels", int, in_channels_option(in_channels)),
        ("num_classes", int, num_classes_option(num_classes))], frozen=True)


def is_space_file(name: str) -> bool:
    """Whether ``--space`` names a file rather than a built-in space."""
    return name.endswith((".yaml", ".yml")) or "/" in name


# Every built-in space's settings, by space name, in the order spaces are listed.
SPACE_SETTINGS: Dict[str, Type[Any]] = {"darts": DartsConfig, "nb201": NB201Config, "fbnet": FBNetConfig,
                                        "mbv3": LayersConfig}

_KINDS = (int, bool, str)


@dataclasses.dataclass
class NetworkFlag:
    """One command-line network option, merged over the spaces that have it."""

    name: str
    kind: type
    help: str
    choices: Optional[List[str]] = None
    in_tables: bool = True  # whether it changes a latency table (part of its file name)


def network_flags() -> List[NetworkFlag]:
    """Every space's command-line options; the help gives each space's default, and names the
    spaces where not all have the option."""
    merged: Dict[str, List[Any]] = {}
    for space, config_class in SPACE_SETTINGS.items():
        kinds = typing.get_type_hints(config_class)
        for f in dataclasses.fields(config_class):
            if flag_of(f):
                merged.setdefault(flag_of(f), []).append((space, f, kinds[f.name]))
    flags = []
    for name, uses in merged.items():
        first, kind = uses[0][1], uses[0][2]
        if kind not in _KINDS or (kind is bool and first.default is not False):
            raise TypeError(f"option {name}: command-line options are int, str or switches that default to False")
        helps = {f.metadata["help"] for _, f, _ in uses}
        everywhere = len(uses) == len(SPACE_SETTINGS)
        if everywhere and len(helps) == 1 and len({f.default for _, f, _ in uses}) == 1:
            text = f"{first.metadata['help']} ({first.default})"
        elif everywhere and len(helps) == 1:
            text = f"{first.metadata['help']} ({', '.join(f'{space} {f.default}' for space, f, _ in uses)})"
        else:
            text = "; ".join(f"{space}: {f.metadata['help']}" + ("" if kind is bool else f" ({f.default})")
                             for space, f, _ in uses)
        choices = first.metadata.get("choices")
        flags.append(NetworkFlag(name, kind, text, list(choices) if choices else None,
                                 in_tables=first.metadata.get("slug") is not None))
    return flags
