"""Parsing budgets typed by users: latencies (``10ms``, ``0.01s``) and counts (``1.5M``, ``800k``)."""

from __future__ import annotations

import re

_LATENCY = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us|µs)\s*$")
_COUNT = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgG]?)\s*$")
_LATENCY_SCALE = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3}
_COUNT_SCALE = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_latency_ms(text: str | float) -> float:
    """``"10ms"``, ``"10 ms"``, ``"0.01s"``, ``"500us"`` -> milliseconds; a number (from Python)
    is milliseconds already; anything else is an error."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _LATENCY.match(str(text))
        if not match:
            raise ValueError(f"cannot read latency {text!r}: write a number with a unit, e.g. 10ms, 10 ms, 0.01s or "
                             f"500us")
        value = float(match.group(1)) * _LATENCY_SCALE[match.group(2)]
    if not 0 < value < 1e9:  # also refuses 1e400ms, which floats read as infinity
        raise ValueError(f"a latency budget must be a positive, finite number of ms, got {text!r}")
    return value


def parse_count(text: str | int) -> int:
    """``"1.5M"``, ``"800k"``, ``"2500000"`` (or a number) -> an integer count; anything else is an error."""
    match = _COUNT.match(str(text))
    if not match:
        raise ValueError(f"cannot read count {text!r}: write a number with an optional k or M, e.g. 800k, 1.5M, 2500000")
    scaled = float(match.group(1)) * _COUNT_SCALE[match.group(2).lower()]
    if not 1 <= scaled < 1e15:  # also refuses 1e99M and infinity
        raise ValueError(f"a budget must be a positive count below 1e15, got {text!r}")
    return int(round(scaled))
