"""Moving averages of each deployment's latency and error rate, as this replica observed them.

The capability router scores with them; they are per process on purpose (cheap, no I/O on
the hot path) and converge quickly, so replicas agree closely without sharing them.
"""

from __future__ import annotations

from collections.abc import Mapping

# Weight of the newest observation: ~20 attempts dominate the average.
_ALPHA = 0.1


class Stats:
    def __init__(self, alpha: float = _ALPHA) -> None:
        self.alpha = alpha
        self._latency: dict[str, float] = {}
        self._errors: dict[str, float] = {}

    def observe(self, key: str, latency_ms: float, failed: bool) -> None:
        a = self.alpha
        failure = 1.0 if failed else 0.0
        if key in self._errors:
            self._errors[key] += a * (failure - self._errors[key])
        else:
            self._errors[key] = failure
        if not failed:  # a fast failure says nothing about how fast the model answers
            previous = self._latency.get(key)
            self._latency[key] = latency_ms if previous is None else previous + a * (latency_ms - previous)

    @property
    def latency_ms(self) -> Mapping[str, float]:
        return self._latency

    @property
    def error_rate(self) -> Mapping[str, float]:
        return self._errors
