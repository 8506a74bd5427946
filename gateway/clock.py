"""Time as a dependency, so tests and the retention engine can control it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (wall clock)."""


class SystemClock:
    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to (tests, dry runs)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
