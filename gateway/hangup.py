"""Cancel the request's work when its client hangs up before the answer starts.

uvicorn does not cancel a request's task when its client goes: an attempt awaited in it
(a non-stream answer, a stream's first chunk) would run to its end, be retried and fall
back for nobody, and its timeout would count against the upstream. ``watch(scope, receive)``
is a context manager that cancels the current task when the client goes while it is entered,
and turns that cancellation into ``ClientGone`` (499, answered to nobody; the request's
decision is recorded and its limits settled as for any error, and no attempt is counted as
a success or a failure). A cancellation from elsewhere (shutdown) goes on up.

Cost: under the gateway's own HTTP protocol (``httpserver.ON_HANGUP`` in the scope) nothing but
two attribute stores: the protocol's ``connection_lost`` calls the callback. Under any other
server, one task waiting for ``http.disconnect``, as ``streaming.SSEResponse`` does.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive, Scope

from gateway.errors import ClientGone
from gateway.httpserver import ON_HANGUP


class watch:  # noqa: N801 - used as a function: ``with hangup.watch(scope, receive):``
    __slots__ = ("_task", "_hook", "_watcher", "_hung_up")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._hung_up = False
        self._hook = scope.get(ON_HANGUP)
        self._watcher: asyncio.Future[None] | None = None
        if self._hook is not None:
            self._hook(self._hang_up)
        else:
            self._watcher = asyncio.ensure_future(_disconnected(receive))
            self._watcher.add_done_callback(self._watched)

    def __enter__(self) -> watch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._hook is not None:
            self._hook(None)
        elif self._watcher is not None:
            self._watcher.cancel()
        if self._hung_up and (kind is None or issubclass(kind, asyncio.CancelledError)):
            if kind is not None:
                self._task.uncancel()  # ours, taken back: the request ends as an error answer
            raise ClientGone("The client closed the connection before the answer started.") from None

    def _hang_up(self) -> None:
        if not self._hung_up:
            self._hung_up = True
            self._task.cancel()

    def _watched(self, watcher: asyncio.Future[None]) -> None:
        if watcher.cancelled():
            return
        watcher.exception()  # taken: a receive that failed is a hang-up too
        self._hang_up()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
