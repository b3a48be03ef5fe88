"""Timing helpers shared by the benchmark's two processes (ours and the peers' venv)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np


def timed(calls: Iterable[Callable[[], object]]) -> list[float]:
    """Milliseconds of each call, one after another."""
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentiles(times: list[float], points: Iterable[int] = (50, 95, 99)) -> dict[str, float]:
    """The given percentiles of milliseconds, as {"p50": ...}."""
    return {f"p{p}": float(np.percentile(times, p)) for p in points}
