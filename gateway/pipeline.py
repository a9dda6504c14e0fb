"""The attempt loop: send a request down its chain until one deployment answers.

Parse and route happen once, before this; here each attempt builds its upstream
request through a fresh translator, sends it, and either commits or records the
failure and moves on. A stream is committed at its first chunk: before it, a failure
falls back; after it, a failure ends the stream with an error event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from gateway.errors import GatewayError, UpstreamBadResponse, UpstreamError, UpstreamUnavailable
from gateway.providers.base import ChatRequest, Completion, Translator
from gateway.redact import Redactor
from gateway.registry import Deployment
from gateway.streaming import DONE, error_event, frame
from gateway.upstream import UpstreamPool

log = logging.getLogger("grove.pipeline")


@dataclass(slots=True)
class Attempt:
    deployment: str
    outcome: str
    latency_ms: float
    error: str | None = None


@dataclass(slots=True)
class Outcome:
    """What the attempts came to; filled in as they happen."""

    attempts: list[Attempt] = field(default_factory=list)
    served_by: Deployment | None = None
    translator: Translator | None = None
    last_error: UpstreamError | None = None


@dataclass(slots=True)
class Stream:
    """A committed stream: its first payloads are in hand, the rest is still upstream."""

    body: AsyncIterator[bytes]


class Pipeline:
    def __init__(self, pool: UpstreamPool, redactor: Redactor) -> None:
        self.pool = pool
        self.redact = redactor

    async def complete(self, req: ChatRequest, chain: tuple[Deployment, ...], out: Outcome) -> Completion:
        for deployment in chain:
            started = time.perf_counter()
            translator = deployment.provider.translator(req, deployment.model.upstream_model)
            try:
                async with self.pool.send(translator.request(), deployment.timeouts, deployment.provider_id) as resp:
                    body = await resp.read()
                    if resp.status >= 400:
                        raise translator.error(resp.status, body, resp.headers)
                    completion = translator.response(body)
            except UpstreamError as exc:
                self._failed(out, deployment, started, exc)
                continue
            out.attempts.append(Attempt(deployment.key, "ok", _ms(started)))
            out.served_by, out.translator = deployment, translator
            return completion
        raise self._exhausted(out)

    async def stream(self, req: ChatRequest, chain: tuple[Deployment, ...], out: Outcome) -> Stream:
        for deployment in chain:
            started = time.perf_counter()
            translator = deployment.provider.translator(req, deployment.model.upstream_model)
            stack = AsyncExitStack()
            try:
                resp = await stack.enter_async_context(
                    self.pool.send(translator.request(), deployment.timeouts, deployment.provider_id, stream=True)
                )
                if resp.status >= 400:
                    raise translator.error(resp.status, await resp.read(), resp.headers)
                events = resp.events()
                first, ended = await _first_payloads(events, translator)
            except UpstreamError as exc:
                await stack.aclose()
                self._failed(out, deployment, started, exc)
                continue
            except BaseException:
                await stack.aclose()
                raise
            out.attempts.append(Attempt(deployment.key, "ok", _ms(started)))
            out.served_by, out.translator = deployment, translator
            return Stream(self._relay(stack, events, translator, first, ended))
        raise self._exhausted(out)

    async def _relay(
        self, stack: AsyncExitStack, events: AsyncIterator[tuple[str | None, bytes]], translator: Translator,
        first: list[bytes], ended: bool,
    ) -> AsyncIterator[bytes]:
        async with stack:
            try:
                for payload in first:
                    yield frame(payload)
                if not ended:
                    async for event, data in events:
                        for payload in translator.stream_event(event, data):
                            yield frame(payload)
                    for payload in translator.stream_close():
                        yield frame(payload)
            except UpstreamError as exc:
                exc.message = self.redact(exc.message)
                yield error_event(exc)
                return
            except Exception:  # a bug of ours must still end the stream visibly, not silently
                log.exception("stream relay failed")
                yield error_event(UpstreamBadResponse("the gateway could not relay the upstream stream"))
                return
            yield DONE

    def _failed(self, out: Outcome, deployment: Deployment, started: float, exc: UpstreamError) -> None:
        exc.message = self.redact(exc.message)
        out.attempts.append(Attempt(deployment.key, type(exc).__name__, _ms(started), exc.message))
        out.last_error = exc
        if not exc.retryable:
            raise exc

    def _exhausted(self, out: Outcome) -> GatewayError:
        if len(out.attempts) == 1 and out.last_error is not None:
            # One attempt: the client gets that upstream's own error (status, Retry-After).
            return out.last_error
        tried = "; ".join(f"{a.deployment}: {a.error}" for a in out.attempts)
        return UpstreamUnavailable(f"All {len(out.attempts)} attempts failed ({tried}).", code="all_attempts_failed")


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


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
