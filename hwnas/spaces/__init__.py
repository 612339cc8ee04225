"""Search spaces by name: ``darts``, ``nb201``, ``fbnet``."""

from __future__ import annotations

from typing import Any, Dict, Type

from hwnas.genotype import Genotype
from hwnas.spaces.base import Piece, SearchSpace
from hwnas.spaces.darts import DartsSpace
from hwnas.spaces.fbnet import FBNetSpace
from hwnas.spaces.nb201 import NB201Space

SPACE_CLASSES: Dict[str, Type[SearchSpace]] = {cls.name: cls for cls in (DartsSpace, NB201Space, FBNetSpace)}

# Common network options (CLI flags) and the constructor argument each maps to per space.
_OPTION_NAMES: Dict[str, Dict[str, str]] = {
    "darts": {"init_channels": "init_channels", "layers": "layers", "input_size": "input_size",
              "in_channels": "in_channels", "num_classes": "num_classes", "auxiliary": "auxiliary",
              "variant": "variant"},
    "nb201": {"init_channels": "init_channels", "layers": "cells_per_stage", "input_size": "input_size",
              "in_channels": "in_channels", "num_classes": "num_classes"},
    "fbnet": {"input_size": "input_size", "in_channels": "in_channels", "num_classes": "num_classes",
              "head_channels": "head_channels"},
}


def make_space(name: str, **options: Any) -> SearchSpace:
    """A space at one configuration. Options left ``None`` take the space's defaults.

    Options: ``init_channels``, ``layers`` (DARTS cells; NAS-Bench-201 cells per stage),
    ``input_size``, ``in_channels``, ``num_classes``, ``auxiliary`` (DARTS), ``variant``
    (DARTS: cifar or imagenet), ``head_channels`` (FBNet).
    """
    if name not in SPACE_CLASSES:
        raise ValueError(f"unknown search space {name!r}; choose one of {', '.join(SPACE_CLASSES)}")
    names = _OPTION_NAMES[name]
    kwargs = {}
    for option, value in options.items():
        if value is None or value is False:
            continue
        if option not in names:
            raise ValueError(f"--{option.replace('_', '-')} does not apply to the {name} space "
                             f"(its options: {', '.join('--' + o.replace('_', '-') for o in names)})")
        kwargs[names[option]] = value
    return SPACE_CLASSES[name](**kwargs)


def space_from_config(config: Dict[str, Any]) -> SearchSpace:
    """Rebuild a space from :meth:`SearchSpace.config` (as stored with tables and runs)."""
    config = dict(config)
    name = config.pop("space")
    if name not in SPACE_CLASSES:
        raise ValueError(f"unknown search space {name!r} in configuration; choose one of {', '.join(SPACE_CLASSES)}")
    return SPACE_CLASSES[name](**config)


def space_for(genotype: Genotype, **options: Any) -> SearchSpace:
    """The space a genotype belongs to, at the given options."""
    return make_space(genotype.space, **options)


__all__ = ["Piece", "SearchSpace", "DartsSpace", "NB201Space", "FBNetSpace", "SPACE_CLASSES", "make_space",
           "space_from_config", "space_for"]
