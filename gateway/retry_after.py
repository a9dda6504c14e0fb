"""The answer when every candidate's breaker is open: when to come back, and whether it is a rate limit.

A 503 without ``Retry-After`` makes clients guess (and retry at once); an upstream's 429 that
opened the breaker, answered as a 503, loses the rate-limit signal that clients back off on.
So a refusal carries the time until the earliest candidate's breaker half-opens, and is a 429
(``rate_limit_exceeded``) when what holds every candidate back is an upstream rate limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.errors import UpstreamError, UpstreamRateLimited, UpstreamUnavailable


@dataclass(frozen=True, slots=True)
class Wait:
    """How long until a candidate may be tried again, and whether a rate limit is the reason."""

    seconds: float
    rate_limited: bool


def refusal(message: str, code: str, waits: Iterable[Wait | None]) -> UpstreamError:
    """``waits``: one per candidate held back, None where the wait is not known (then no
    ``Retry-After``, and not a rate limit). Retry-After is whole seconds, at least 1."""
    known = list(waits)
    if not known or any(w is None for w in known):
        return UpstreamUnavailable(message, code=code)
    earliest = max(1, math.ceil(min(w.seconds for w in known if w is not None)))
    if all(w is not None and w.rate_limited for w in known):
        return UpstreamRateLimited(message, code="rate_limit_exceeded", retry_after=earliest)
    return UpstreamUnavailable(message, code=code, retry_after=earliest)
