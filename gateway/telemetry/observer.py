"""What the pipeline tells whoever watches a request's attempts: the contract telemetry implements.

The pipeline calls an ``Observer`` once per attempt it sends (and for the deployments it
skips), and the ``AttemptWatch`` it gets back as that attempt proceeds. Both are protocols so
that the pipeline knows nothing of spans or metrics; ``UNWATCHED`` is the observer when
nobody observes. Imports no OpenTelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.errors import UpstreamError
from gateway.providers.base import Completion, Usage

if TYPE_CHECKING:
    from gateway.registry import Deployment


class AttemptWatch(Protocol):
    """Told what happens to one attempt sent upstream (telemetry implements it)."""

    def first_chunk(self, payloads: list[bytes]) -> None:
        """A stream committed: its first payloads arrived."""

    def chunk(self, payload: bytes) -> None:
        """A stream payload relayed to the client (the first ones included)."""

    def completed(self, completion: Completion) -> None:
        """A non-stream answer arrived."""

    def stream_ended(self, usage: Usage | None, error: UpstreamError | None, cancelled: bool) -> None:
        """A committed stream is over: complete, broken by ``error``, or ``cancelled`` (the
        client went away)."""

    def failed(self, exc: BaseException) -> None:
        """The attempt failed before answering (an ``UpstreamError``, or cancellation)."""


class Observer(Protocol):
    """Told about each attempt of one request: opens an ``AttemptWatch`` per upstream send."""

    def attempt(self, deployment: Deployment, number: int, breaker: str,
                previous: tuple[str, str] | None) -> AttemptWatch:
        """``number`` counts from 1 over the decision's attempts, skips included; ``previous`` is
        the (deployment, outcome) of the attempt before, if any."""
        ...

    def skipped(self, deployment: Deployment, outcome: str, breaker: str) -> None: ...

    def backoff(self, seconds: float) -> None: ...


class _Unwatched:
    """The observer when nobody observes."""

    def attempt(self, deployment: Deployment, number: int, breaker: str,
                previous: tuple[str, str] | None) -> AttemptWatch:
        return self

    def skipped(self, deployment: Deployment, outcome: str, breaker: str) -> None:
        return None

    def backoff(self, seconds: float) -> None:
        return None

    def first_chunk(self, payloads: list[bytes]) -> None:
        return None

    def chunk(self, payload: bytes) -> None:
        return None

    def completed(self, completion: Completion) -> None:
        return None

    def stream_ended(self, usage: Usage | None, error: UpstreamError | None, cancelled: bool) -> None:
        return None

    def failed(self, exc: BaseException) -> None:
        return None


UNWATCHED = _Unwatched()
