"""A space's settings as data: one frozen dataclass per space, each field an option.

A field's metadata says how the option shows itself: its help text, the command-line flag
that sets it (``None``: not a command-line option), and its part in a latency table's file
name (``slug``: a short prefix; ``None``: the option does not change latency, so tables are
shared across its values). The command-line options, the table file names and the suggested
``hwnas profile`` commands are all generated from these fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Sequence

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
def init_channels(default: int) -> Any:
    return option(default, "initial channels C", slug="c")


def input_size(default: int) -> Any:
    return option(default, "input height = width", slug="s")


def in_channels(default: int = 3) -> Any:
    return option(default, "input channels", slug="in")


def num_classes(default: int) -> Any:
    return option(default, "classes", slug="n")


def flag_of(f: dataclasses.Field) -> Optional[str]:
    """The command-line name (``init_channels``) of a field, or ``None`` for none."""
    flag = f.metadata.get("flag", _UNSET)
    return f.name if flag is _UNSET else flag


def dashed(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_options(config: Any) -> None:
    """Clear errors for values of the wrong kind: integers must be positive, choices known."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        name = (flag_of(f) or f.name).replace("_", "-")
        if f.metadata.get("choices") and value not in f.metadata["choices"]:
            raise ValueError(f"{name} must be one of {', '.join(f.metadata['choices'])}, got {value!r}")
        if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if f.type in ("bool", bool) and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")


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
