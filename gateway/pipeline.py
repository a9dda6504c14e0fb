"""The attempt loop: send a request down its chain until one deployment answers.

Parse and route happen once, before this; here each attempt builds its upstream request
through a fresh translator, sends it, and either commits or records why it failed and
moves on. The rules:

- a deployment whose breaker is open is skipped (recorded, not sent);
- a failure the client caused (their own 400) is returned at once, never retried;
- ``context_length_exceeded`` skips ahead to a deployment with a larger window;
- other failures (connect, timeout, 429, 5xx, upstream auth, broken or silent stream)
  fall back to the next deployment; the last one is retried with jittered exponential
  backoff (honouring ``Retry-After``) while the request's deadline allows;
- a stream is committed at its first chunk, which must arrive within the time-to-first-
  token deadline: before it, a failure falls back; after it, a failure ends the stream
  with an error event;
- a stream's success reaches the breaker and the stats only when the stream ends complete:
  one that breaks after its first chunk is one failure and no success (else an upstream
  that cuts every stream would sit at a 50 % failure ratio and reset its failure streak
  each time, never tripped); one the client cancels is neither;
- a stream that ends early (the client hung up, or the upstream broke) is charged for what
  was delivered: its usage is at least the prompt's estimate in and one token per payload
  sent out, whatever usage the upstream had reported by then.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.breaker import Breakers
from gateway.endpoints import Endpoint
from gateway.endpoints.chat import CHAT
from gateway.errors import (
    ContextTooLong,
    GatewayError,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers.base import ChatRequest, Completion, Translator, Usage
from gateway.redact import Redactor
from gateway.retry_after import Wait, refusal
from gateway.registry import Deployment
from gateway.routing import Health
from gateway.routing.decision import NO_WAITS
from gateway.stats import Stats
from gateway.telemetry.observer import UNWATCHED, AttemptWatch, Observer
from gateway.upstream import Timeouts, UpstreamPool

log = logging.getLogger("grove.pipeline")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 1  # extra tries of the last deployment in the chain, on a transient failure
    backoff_base_s: float = 0.1
    backoff_max_s: float = 2.0
    deadline_s: float = 120.0  # the whole request, every attempt included
    ttft_s: float = 30.0  # a stream's first chunk must come within this


@dataclass(slots=True)
class Attempt:
    deployment: str
    outcome: str  # "ok", or why it failed / was skipped
    latency_ms: float
    error: str | None = None
    breaker: str = "closed"
    wait: Wait | None = None  # a failure's Retry-After, and whether it was a 429 (not in to_dict)

    def to_dict(self) -> dict[str, object]:
        return {"deployment": self.deployment, "outcome": self.outcome, "latency_ms": self.latency_ms,
                "error": self.error, "breaker": self.breaker}


@dataclass(slots=True)
class Outcome:
    """What the attempts came to; filled in as they happen."""

    attempts: list[Attempt] = field(default_factory=list)
    served_by: Deployment | None = None
    translator: Translator | None = None
    last_error: UpstreamError | None = None
    status: int = 200
    complete: bool = True
    """False once a committed stream ended early: the client hung up, or the upstream broke."""


@dataclass(slots=True)
class Stream:
    """A committed stream: its first payloads are in hand, the rest is still upstream."""

    body: AsyncIterator[bytes]


@dataclass(slots=True)
class _Opened:
    deployment: Deployment
    stack: AsyncExitStack
    events: AsyncIterator[tuple[str | None, bytes]]
    translator: Translator
    first: list[bytes]
    ended: bool
    watch: AttemptWatch


def reason(exc: UpstreamError) -> str:
    """A short, stable name for why an attempt failed: provenance, headers and metrics use it."""
    return exc.code or type(exc).__name__


class Pipeline:
    def __init__(self, pool: UpstreamPool, redactor: Redactor, breakers: Breakers, stats: Stats,
                 policy: RetryPolicy = RetryPolicy(), rng: random.Random | None = None) -> None:
        self.pool = pool
        self.redact = redactor
        self.breakers = breakers
        self.stats = stats
        self.policy = policy
        self.rng = rng or random.Random()

    def health(self) -> Health:
        # Deployments this replica found open a moment ago: the router leaves them out
        # (recorded as exclusions) without asking the store on every request.
        open_now = self.breakers.recently_open()
        if not open_now:
            return Health(open_now, self.stats.latency_ms, self.stats.error_rate, NO_WAITS)
        waits = {key: wait for key in open_now if (wait := self.breakers.wait(key)) is not None}
        return Health(open_now, self.stats.latency_ms, self.stats.error_rate, waits)

    async def complete(self, req: ChatRequest, chain: tuple[Deployment, ...], out: Outcome,
                       observer: Observer = UNWATCHED, endpoint: Endpoint = CHAT) -> Completion:
        async def attempt(deployment: Deployment, translator: Translator, remaining: float,
                          watch: AttemptWatch) -> Completion:
            completion = await send_once(self.pool, deployment, translator, remaining)
            watch.completed(completion)
            return completion

        return await self._run(req, chain, out, attempt, observer, endpoint, settle=True)

    async def stream(self, req: ChatRequest, chain: tuple[Deployment, ...], out: Outcome,
                     on_close: Callable[[], None] | None = None, observer: Observer = UNWATCHED,
                     endpoint: Endpoint = CHAT, input_tokens: int = 0) -> Stream:
        """Commit a stream; ``on_close`` runs when it has ended, however it ended. ``input_tokens``
        (the prompt's estimate) is charged if the stream ends before the upstream said its usage."""
        async def attempt(deployment: Deployment, translator: Translator, remaining: float,
                          watch: AttemptWatch) -> _Opened:
            stack = AsyncExitStack()
            try:
                resp = await stack.enter_async_context(
                    self.pool.send(translator.request(), deployment.timeouts, deployment.provider_id, stream=True)
                )
                if resp.status >= 400:
                    raise translator.error(resp.status, await resp.read(), resp.headers)
                events = resp.events()
                try:
                    async with asyncio.timeout(min(self.policy.ttft_s, remaining)):
                        first, ended = await _first_payloads(events, translator)
                except TimeoutError:
                    raise UpstreamTimeout(
                        f"upstream {deployment.provider_id} sent no first chunk within the deadline",
                        code="ttft_timeout",
                    ) from None
            except BaseException:
                await stack.aclose()
                raise
            watch.first_chunk(first)
            return _Opened(deployment, stack, events, translator, first, ended, watch)

        opened = await self._run(req, chain, out, attempt, observer, endpoint, settle=False)
        return Stream(self._relay(opened, out, on_close, endpoint, input_tokens))

    async def _run(
        self, req: ChatRequest, chain: tuple[Deployment, ...], out: Outcome,
        attempt: Callable[[Deployment, Translator, float, AttemptWatch], Awaitable[T]], observer: Observer,
        endpoint: Endpoint, settle: bool,
    ) -> T:
        """``settle``: report the committing attempt's success now (an answer is whole); a stream
        reports it at its complete end (``_relay``)."""
        policy = self.policy
        deadline = time.monotonic() + policy.deadline_s
        min_window = 0
        for index, deployment in enumerate(chain):
            if deployment.model.context_window <= min_window:
                out.attempts.append(Attempt(deployment.key, "context_too_small", 0.0))
                observer.skipped(deployment, "context_too_small", "closed")
                continue
            tries = 1 + (policy.retries if index == len(chain) - 1 else 0)
            for try_number in range(tries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                allowed, state = await self.breakers.allow(deployment.key)
                if not allowed:
                    out.attempts.append(Attempt(deployment.key, "breaker_open", 0.0, breaker=state))
                    observer.skipped(deployment, "breaker_open", state)
                    break
                started = time.perf_counter()
                previous = (out.attempts[-1].deployment, out.attempts[-1].outcome) if out.attempts else None
                watch = observer.attempt(deployment, len(out.attempts) + 1, state, previous)
                try:
                    translator = endpoint.translator(deployment, req)
                    result = await attempt(deployment, translator, remaining, watch)
                except UpstreamError as exc:
                    delay = await self._failed(out, deployment, started, exc, state, try_number, watch)
                    if isinstance(exc, ContextTooLong):
                        min_window = deployment.model.context_window
                    if delay is None or try_number + 1 >= tries or time.monotonic() + delay >= deadline:
                        break
                    observer.backoff(delay)
                    await asyncio.sleep(delay)
                    continue
                except BaseException as exc:  # cancelled (the client went away), or a bug of ours
                    watch.failed(exc)
                    if isinstance(exc, asyncio.CancelledError):  # neither a success nor a failure
                        out.attempts.append(Attempt(deployment.key, "cancelled", _ms(started), breaker=state))
                    raise
                latency = _ms(started)
                out.attempts.append(Attempt(deployment.key, "ok", latency, breaker=state))
                out.served_by, out.translator = deployment, translator
                if settle:
                    self.stats.observe(deployment.key, latency, failed=False)
                    await self.breakers.record_success(deployment.key)
                return result
        raise self._exhausted(out)

    async def _failed(self, out: Outcome, deployment: Deployment, started: float, exc: UpstreamError, state: str,
                      try_number: int, watch: AttemptWatch) -> float | None:
        """Record a failed attempt; return the backoff before retrying it, or raise if it must not be."""
        self._scrub(exc)
        watch.failed(exc)
        latency = _ms(started)
        rate_limited = isinstance(exc, UpstreamRateLimited)
        wait = Wait(exc.retry_after, rate_limited) if exc.retry_after is not None else None
        out.attempts.append(Attempt(deployment.key, reason(exc), latency, exc.message, state, wait))
        out.last_error = exc
        if not exc.retryable:
            raise exc
        if not isinstance(exc, ContextTooLong):  # the prompt's fault, not the deployment's
            self.stats.observe(deployment.key, latency, failed=True)
            await self.breakers.record_failure(deployment.key, exc.retry_after, rate_limited)
        if not exc.transient:
            return None
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= self.policy.backoff_max_s else None
        backoff = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2**try_number)
        return self.rng.uniform(0, backoff)  # full jitter

    def _scrub(self, exc: UpstreamError) -> None:
        """Everything an upstream wrote into ``exc`` (message, code, param) without the gateway's
        secrets, before it reaches a client, a log, a span or a metric label."""
        exc.message = self.redact(exc.message)
        if exc.code is not None:
            exc.code = self.redact(exc.code)
        if exc.param is not None:
            exc.param = self.redact(exc.param)

    def _exhausted(self, out: Outcome) -> GatewayError:
        if out.last_error is not None and len({a.deployment for a in out.attempts}) == 1:
            # One deployment tried: the client gets that upstream's own error (status, Retry-After).
            return out.last_error
        if not out.attempts:
            return UpstreamUnavailable("The request's deadline passed before any attempt.", code="deadline_exceeded")
        tried = "; ".join(f"{a.deployment}: {a.outcome}" + (f" ({a.error})" if a.error else "")
                          for a in out.attempts)
        # When every candidate is held back for a known time (an open breaker, an upstream's
        # Retry-After): when to come back, and a 429 if every one of them is rate limiting.
        held = [a for a in out.attempts if a.outcome != "context_too_small"]
        waits = [self.breakers.wait(a.deployment) if a.outcome == "breaker_open" else a.wait for a in held]
        return refusal(f"All {len(out.attempts)} attempts failed: {tried}.", "all_attempts_failed", waits)

    async def _relay(self, opened: _Opened, out: Outcome, on_close: Callable[[], None] | None,
                     endpoint: Endpoint, input_tokens: int) -> AsyncIterator[bytes]:
        translator, watch = opened.translator, opened.watch
        frame, error_event = endpoint.sse.frame, endpoint.sse.error_event
        error: UpstreamError | None = None
        finished = False
        sent = 0  # payloads handed to the client: what an early end is charged for
        async with opened.stack:
            try:
                for payload in opened.first:
                    watch.chunk(payload)
                    sent += 1
                    yield frame(payload)
                if not opened.ended:
                    async for event, data in opened.events:
                        for payload in translator.stream_event(event, data):
                            watch.chunk(payload)
                            sent += 1
                            yield frame(payload)
                    for payload in translator.stream_close():
                        watch.chunk(payload)
                        yield frame(payload)
                finished = True
                # Complete: now, not at the first chunk, the attempt counts as a success.
                self.stats.observe(opened.deployment.key, out.attempts[-1].latency_ms, failed=False)
                await self.breakers.record_success(opened.deployment.key)
            except UpstreamError as exc:
                self._scrub(exc)
                error, finished = exc, True
                out.attempts[-1].outcome, out.attempts[-1].error = f"stream_{reason(exc)}", exc.message
                out.status = exc.status
                self.stats.observe(opened.deployment.key, 0.0, failed=True)
                await self.breakers.record_failure(opened.deployment.key, exc.retry_after,
                                                   isinstance(exc, UpstreamRateLimited))
                yield error_event(exc)
                return
            except Exception:  # a bug of ours must still end the stream visibly, not silently
                log.exception("stream relay failed")
                out.status = 502
                error, finished = UpstreamBadResponse("the gateway could not relay the upstream stream"), True
                yield error_event(error)
                return
            finally:
                usage = translator.usage
                if error is not None or not finished:
                    out.complete = False
                    if sent:
                        usage = _at_least(usage, input_tokens, sent)
                watch.stream_ended(usage, error, cancelled=not finished)
                if on_close is not None:
                    on_close()
            if endpoint.sse.done:
                yield endpoint.sse.done


async def send_once(pool: UpstreamPool, deployment: Deployment, translator: Translator,
                    budget_s: float) -> Completion:
    """One non-stream request to ``deployment`` within ``budget_s`` (and its own timeouts);
    raises the translator's ``UpstreamError`` for an error answer."""
    timeouts = deployment.timeouts
    if budget_s < timeouts.total_s:
        timeouts = Timeouts(timeouts.connect_s, budget_s)
    async with pool.send(translator.request(), timeouts, deployment.provider_id) as resp:
        body = await resp.read()
        if resp.status >= 400:
            raise translator.error(resp.status, body, resp.headers)
        return translator.response(body)


async def _first_payloads(
    events: AsyncIterator[tuple[str | None, bytes]], translator: Translator
) -> tuple[list[bytes], bool]:
    """Read upstream events until one yields a payload for the client: the commit point.

    Returns the payloads and whether the upstream stream has already ended (a stream
    that ends incomplete before any payload raises here, so it can still fall back).
    """
    async for event, data in events:
        payloads = translator.stream_event(event, data)
        if payloads:
            return payloads, False
    return translator.stream_close(), True


def _at_least(usage: Usage | None, input_tokens: int, output_tokens: int) -> Usage:
    """An early-ended stream's usage: what the upstream reported, and no less than the estimate."""
    if usage is None:
        return Usage(input_tokens, output_tokens)
    return Usage(max(usage.input_tokens, input_tokens), max(usage.output_tokens, output_tokens),
                 usage.cached_input_tokens)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
