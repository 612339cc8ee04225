"""Search spaces by name (``darts``, ``nb201``, ``fbnet``, ``mbv3``) or by file, and everything
that describes them: genotypes (:mod:`~hwnas.spaces.genotypes`), operations
(:mod:`~hwnas.spaces.ops`), settings (:mod:`~hwnas.spaces.settings`). :func:`make_space` builds
one at a configuration.

The names below are imported when first used, so the torch-free modules of this package (the
settings, the genotypes) load without torch: the command line builds its options from them.
"""

from importlib import import_module
from typing import Any, List

_WHERE = {
    "Piece": "base", "SearchSpace": "base", "Costs": "costs",
    "DartsConfig": "settings", "NB201Config": "settings", "FBNetConfig": "settings",
    "DartsSpace": "darts", "NB201Space": "nb201", "FBNetSpace": "fbnet",
    **{name: "registry" for name in ("list_spaces", "register_space", "space_class", "make_space", "space_from_config",
                                     "space_for", "config_slug", "profile_command", "with_flags")},
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'hwnas.spaces' has no attribute {name!r}")
    return getattr(import_module(f"hwnas.spaces.{_WHERE[name]}"), name)


def __dir__() -> List[str]:
    return sorted(list(globals()) + __all__)
