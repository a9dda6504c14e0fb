"""Fault knobs and the shared state of a fake provider server.

A ``FakeState`` holds the knobs (a default for every model, plus per-model
overrides applied field by field on top of it), the requests the fake received
and a few counters. It is shared between the server's thread and the test's
thread, so every access takes one lock, and ``wait_for`` lets a test await what
the server did (a disconnect noticed, a request received) instead of sleeping.

The same state is reachable out of process through a small control API mounted
on every fake: ``POST /_fake/knobs``, ``POST /_fake/reset``, ``GET /_fake/requests``.
"""

from __future__ import annotations

import asyncio

import dataclasses
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import jsonio


def _default_tool_arguments() -> dict[str, Any]:
    return {"city": "Paris"}


@dataclass(frozen=True, slots=True)
class Knobs:
    """How a fake answers one model. Times are milliseconds; chunk positions count from 0."""

    latency_ms: float = 0.0  # before the response headers
    ttft_ms: float = 0.0  # after the headers, before the first stream chunk
    chunk_interval_ms: float = 0.0  # between stream chunks
    status: int | None = None  # answer with this provider's error body and status
    error_message: str | None = None  # replaces the provider's stock error message
    error_code: str | None = None  # replaces the stock error code (OpenAI's fake)
    error_param: str | None = None  # the error's param (OpenAI's fake)
    retry_after: float | None = None  # seconds, as a Retry-After header on errors
    fail_times: int | None = None  # the fault knobs apply to the next N requests only
    cut_after_chunks: int | None = None  # close the connection after N chunks
    malformed_chunk_at: int | None = None  # chunk N is invalid JSON (the real chunks follow)
    error_event_after_chunks: int | None = None  # the provider's in-stream error after N chunks
    hang: bool = False  # never answer; wait for the client to go away
    reply: str | None = None  # the reply text instead of the generated one
    tool_arguments: Mapping[str, Any] = field(default_factory=_default_tool_arguments)
    api_key: str | None = None  # the key the fake expects; None accepts any key
    context_window: int | None = None  # prompts above this many tokens get the context error
    hold_after_chunks: int | None = None  # stream N chunks, then wait for ``FakeState.release()``

    @property
    def has_fault(self) -> bool:
        """Whether any knob that makes a request fail is set (``fail_times`` alone fails with 5xx)."""
        return (
            self.hang
            or self.status is not None
            or self.fail_times is not None
            or self.cut_after_chunks is not None
            or self.malformed_chunk_at is not None
            or self.error_event_after_chunks is not None
        )

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tool_arguments"] = dict(self.tool_arguments)
        return out


_DEFAULTS = Knobs()
_Ms = Annotated[float, Field(ge=0)]
_Count = Annotated[int, Field(ge=0)]


class KnobsPatch(BaseModel):
    """Knob changes as they arrive from ``state.set(...)`` or ``POST /_fake/knobs``.

    Only the fields given are changed; ``None`` puts a knob back to its default.
    """

    model_config = ConfigDict(extra="forbid")

    latency_ms: _Ms | None = None
    ttft_ms: _Ms | None = None
    chunk_interval_ms: _Ms | None = None
    status: Annotated[int, Field(ge=400, le=599)] | None = None
    error_message: str | None = None
    error_code: str | None = None
    error_param: str | None = None
    retry_after: Annotated[float, Field(ge=0)] | None = None
    fail_times: _Count | None = None
    cut_after_chunks: _Count | None = None
    malformed_chunk_at: _Count | None = None
    error_event_after_chunks: _Count | None = None
    hang: bool | None = None
    reply: str | None = None
    tool_arguments: dict[str, Any] | None = None
    api_key: str | None = None
    context_window: Annotated[int, Field(ge=1)] | None = None
    hold_after_chunks: _Count | None = None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            out[name] = getattr(_DEFAULTS, name) if value is None else value
        return out


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None when it was not JSON

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FakeState:
    """Knobs, received requests and counters of one fake server; thread-safe."""

    def __init__(self, *, max_requests: int = 10_000) -> None:
        # Reentrant, so a wait_for predicate may read the state's own properties.
        self._cond = threading.Condition(threading.RLock())
        self._default = Knobs()
        self._overrides: dict[str, dict[str, Any]] = {}
        self._failures_left: dict[str | None, int] = {}
        self._requests: deque[RecordedRequest] = deque(maxlen=max_requests)
        self._counters: Counter[str] = Counter()
        self._released = False
        self._holders: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    # --- knobs ---------------------------------------------------------------

    def set(self, model: str | None = None, **knobs: Any) -> Knobs:
        """Change knobs for ``model`` (None: the default for all models); returns the result."""
        changes = KnobsPatch.model_validate(knobs).changes()
        with self._cond:
            if model is None:
                self._default = dataclasses.replace(self._default, **changes)
            else:
                self._overrides.setdefault(model, {}).update(changes)
            if "fail_times" in changes:
                self._failures_left[model] = changes["fail_times"] or 0
            return self.knobs_for(model)

    def reset(self) -> None:
        """Back to a fresh state: default knobs, no requests, zero counters."""
        with self._cond:
            self._default = Knobs()
            self._overrides.clear()
            self._failures_left.clear()
            self._requests.clear()
            self._counters.clear()
            self._released = False
            self._holders.clear()
            self._cond.notify_all()

    # --- holding a stream (hold_after_chunks) --------------------------------------

    def hold(self) -> asyncio.Event:
        """An event, in the calling loop, that is set once ``release()`` is called (from any thread)."""
        held = asyncio.Event()
        with self._cond:
            if self._released:
                held.set()
            else:
                self._holders.append((asyncio.get_running_loop(), held))
        return held

    def release(self) -> None:
        """Let every held stream go on (and every later one pass its hold point)."""
        with self._cond:
            self._released = True
            holders, self._holders = self._holders, []
        for loop, held in holders:
            loop.call_soon_threadsafe(held.set)

    def knobs_for(self, model: str | None) -> Knobs:
        with self._cond:
            override = self._overrides.get(model) if model is not None else None
            return dataclasses.replace(self._default, **override) if override else self._default

    def admit_fault(self, model: str | None, knobs: Knobs) -> bool:
        """Whether this request gets the fault knobs; counts down ``fail_times``.

        The count belongs to where ``fail_times`` was set: a model's own count, or one
        count shared by every model that takes it from the default.
        """
        if knobs.fail_times is None:
            return True
        with self._cond:
            owner = model if model is not None and "fail_times" in self._overrides.get(model, {}) else None
            left = self._failures_left.get(owner, 0)
            if left <= 0:
                return False
            self._failures_left[owner] = left - 1
            return True

    def models(self) -> list[str]:
        """Models that have their own knobs."""
        with self._cond:
            return list(self._overrides)

    # --- what happened -------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._counters["requests"] += 1
            self._cond.notify_all()

    def count(self, name: str, n: int = 1) -> None:
        with self._cond:
            self._counters[name] += n
            self._cond.notify_all()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the received requests, oldest first (the newest ``max_requests``)."""
        with self._cond:
            return list(self._requests)

    @property
    def counters(self) -> dict[str, int]:
        """A snapshot: requests, completed, errors, disconnects, hangs, cuts, malformed, error_events."""
        with self._cond:
            return dict(self._counters)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` holds (re-checked on every change); False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


def control_routes(state: FakeState) -> list[Route]:
    """The out-of-process control API, mounted under ``/_fake/`` on every fake."""

    async def set_knobs(request: Request) -> Response:
        try:
            body = jsonio.loads(await request.body())
        except jsonio.JSONDecodeError:
            return _json({"error": "body is not JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "body must be a JSON object"}, 400)
        model = body.pop("model", None)
        if model is not None and not isinstance(model, str):
            return _json({"error": "model must be a string"}, 400)
        try:
            knobs = state.set(model, **body)
        except ValidationError as exc:
            return _json({"error": exc.errors(include_url=False, include_context=False)}, 400)
        return _json({"model": model, "knobs": knobs.as_dict()}, 200)

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"reset": True}, 200)

    async def requests(request: Request) -> Response:
        return _json(
            {"requests": [r.as_dict() for r in state.requests], "counters": state.counters}, 200
        )

    return [
        Route("/_fake/knobs", set_knobs, methods=["POST"]),
        Route("/_fake/reset", reset, methods=["POST"]),
        Route("/_fake/requests", requests, methods=["GET"]),
    ]


def _json(obj: Any, status: int) -> Response:
    return Response(jsonio.dumps(obj), status, media_type="application/json")
