"""Progressive search's stages (P-DARTS, Chen et al. 2019): the proxy each epoch trains.

A stage ``[epoch, keep]`` narrows the candidates after ``epoch`` (see
:meth:`hwnas.search.arch.Architecture.keep_strongest`); ``[epoch, keep, layers]`` also deepens
the proxy from there on. Fewer candidates per position pay for the deeper proxy, which narrows
the depth gap between the supernet that is searched and the network that is trained.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from hwnas.spaces import SearchSpace, with_flags


def proxy_at(proxy: SearchSpace, stages: Optional[Sequence[List[int]]], epoch: int) -> SearchSpace:
    """The proxy space trained in ``epoch`` (counted from 0): the first one, deepened by the
    stages already ended."""
    layers = None
    for stage in stages or ():
        if len(stage) > 2 and epoch >= stage[0]:
            layers = stage[2]
    return proxy if layers is None else with_flags(proxy, layers=layers)
