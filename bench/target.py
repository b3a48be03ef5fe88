"""A benchmark target: a measured figure against a limit, and why it may be missed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A measured value against a limit, and why it may be missed."""

    name: str
    measured: Callable[[dict[str, float]], float]
    limit: Callable[[dict[str, float]], float]
    at_most: bool  # True: measured <= limit; False: measured >= limit
    unit: str
    why_missed: Callable[[dict[str, float]], str] = lambda f: ""
    digits: int = 1  # decimals shown for the measured value and the limit

    def met(self, f: dict[str, float]) -> bool:
        """Whether the run meets the target."""
        measured, limit = self.measured(f), self.limit(f)
        return measured <= limit if self.at_most else measured >= limit
