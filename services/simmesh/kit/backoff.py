"""Exponential backoff with jitter, for loops that retry a dependency (etcd, S3) until it answers."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from `initial` up to `maximum`, each drawn from [delay / 2, delay]
    so that processes retrying together spread out; `reset()` after a success."""

    def __init__(self, initial: float = 0.2, maximum: float = 5.0, *, factor: float = 2.0, jitter: bool = True) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError(f"bad backoff: initial={initial}, maximum={maximum}, factor={factor}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0
        self._delay = initial

    def next(self) -> float:
        """The seconds to wait before the next attempt."""
        delay = self._delay
        self._delay = min(self._delay * self.factor, self.maximum)
        self.attempts += 1
        return random.uniform(delay / 2, delay) if self.jitter else delay

    def reset(self) -> None:
        self._delay = self.initial
        self.attempts = 0
