"""Budgets as users type them: latencies with units, counts with suffixes."""

import pytest

from hwnas.core.units import parse_count, parse_latency_ms


@pytest.mark.parametrize("text,ms", [("10ms", 10.0), ("10 ms", 10.0), ("0.01s", 10.0), ("500us", 0.5)])
def test_latency_budgets(text, ms):
    assert parse_latency_ms(text) == pytest.approx(ms)


@pytest.mark.parametrize("text,n", [("1.5M", 1_500_000), ("800k", 800_000), ("2500000", 2_500_000)])
def test_count_budgets(text, n):
    assert parse_count(text) == n


@pytest.mark.parametrize("bad", ["10", "fast", "10 mss", "-3ms", "0ms", "", "1e400ms", "inf ms"])
def test_bad_latency_budget(bad):
    with pytest.raises(ValueError, match="latency"):
        parse_latency_ms(bad)


def test_bad_count_budget():
    with pytest.raises(ValueError, match="800k"):
        parse_count("lots")
    for bad in ("1e99M", "0", "0.1"):
        with pytest.raises(ValueError, match="positive count below 1e15"):
            parse_count(bad)
