"""Timing helpers shared by the benchmark's two processes (ours and the peers' venv)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable

import numpy as np


def timed(calls: Iterable[Callable[[], object]]) -> list[float]:
    """Milliseconds of each call, one after another, with this process's GC off meanwhile.

    As timeit does: this client holds the model and the whole corpus, and a full collection
    of its own heap (200+ ms) would be counted against the server's answer.
    """
    times = []
    for call in calls:
        gc.disable()
        try:
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        finally:
            gc.enable()
    return times


def percentiles(times: list[float], points: Iterable[int] = (50, 95, 99)) -> dict[str, float]:
    """The given percentiles of milliseconds, as {"p50": ...}."""
    return {f"p{p}": float(np.percentile(times, p)) for p in points}
