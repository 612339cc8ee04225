"""Search spaces by name (``darts``, ``nb201``, ``fbnet``, ``mbv3``) or by file: each built-in
registers itself with its settings dataclass; :func:`make_space` builds one at a configuration."""

from hwnas.spaces.base import Piece, SearchSpace
from hwnas.core.space_settings import DartsConfig, FBNetConfig, NB201Config
from hwnas.spaces.darts import DartsSpace
from hwnas.spaces.nb201 import NB201Space  # registered in this order: darts, nb201, fbnet, mbv3
from hwnas.spaces.fbnet import FBNetSpace  # noqa: I001
from hwnas.spaces.space_file import MBV3_FILE, space_class_from_file
from hwnas.spaces.registry import (SPACES, config_slug, list_spaces, make_space, profile_command, register_space,
                                   space_for, space_from_config, with_flags)

__all__ = ["Piece", "SearchSpace", "DartsConfig", "DartsSpace", "NB201Config", "NB201Space", "FBNetConfig",
           "FBNetSpace", "SPACES", "list_spaces", "register_space", "make_space", "space_from_config", "space_for",
           "config_slug", "profile_command", "with_flags"]

register_space(space_class_from_file(MBV3_FILE, builtin=True))
