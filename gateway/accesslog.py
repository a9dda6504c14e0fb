"""The access log: one JSON object per line per request, on the ``grove.access`` logger.

Promises:
- One line per request, written when the request is over (for a stream, when it has ended),
  with the request id, trace id, method, path, route, the model that served it, attempts and
  their outcomes, status, latency, time to first token, tokens and cost. Health probes and
  metric scrapes are not logged.
- No secrets: no header, key or URL query is ever put in an entry. No prompt or completion
  either, unless content recording is opted into (``GROVE_RECORD_CONTENT=true``).
- ``install_stdout_handler`` (called by ``grove-gateway serve``'s app factory, unless the
  logger already has a handler) prints bare JSON lines to standard output, not through the
  root logger's formatter, so a log shipper can parse each line as it is; lines written on an
  event loop reach the stream at most ``FLUSH_S`` late, together (a write per line would be a
  system call, and a hand-over of the GIL to the span exporter, per request). Elsewhere
  (tests, embedding) the logger is an ordinary one: configure it as you like.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, TextIO

from gateway import jsonio

LOGGER = "grove.access"
FLUSH_S = 0.5


class AccessLog:
    def __init__(self, logger: logging.Logger | None = None, *, enabled: bool = True) -> None:
        self.logger = logger or logging.getLogger(LOGGER)
        self._on = enabled

    @property
    def enabled(self) -> bool:
        return self._on and self.logger.isEnabledFor(logging.INFO)

    def emit(self, entry: dict[str, Any]) -> None:
        line = jsonio.dumps(entry).decode()
        handlers = self.logger.handlers
        if len(handlers) == 1 and type(handlers[0]) is _StdoutHandler and not self.logger.filters:
            # The line as the handler would write it, without a LogRecord: making one (the
            # caller's frame looked up included) and the handler's lock cost ~10 µs a request.
            handlers[0].write_line(line)
        else:
            self.logger.info(line)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (a test runner swaps it).

    On an event loop, lines wait in a list and go out together ``FLUSH_S`` later (or once
    ``MAX_PENDING`` wait), in one write: with ``PYTHONUNBUFFERED`` set, as container images often
    have it, each line would otherwise be a system call of its own. What waits at exit is
    written by ``logging.shutdown``, which flushes every handler."""

    MAX_PENDING = 1000

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record))
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)

    def write_line(self, line: str) -> None:
        pending = self._pending
        pending.append(line)
        if len(pending) == 1:
            try:
                asyncio.get_running_loop().call_later(FLUSH_S, self.flush)
                return
            except RuntimeError:  # not on an event loop: nothing would flush later
                pass
        elif len(pending) < self.MAX_PENDING:
            return  # a flush is already due
        self.flush()

    def flush(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def install_stdout_handler(logger: logging.Logger | None = None) -> None:
    """Send access lines to stdout as bare JSON, once per process, unless someone configured
    the logger already."""
    logger = logger or logging.getLogger(LOGGER)
    if logger.handlers:
        return
    logger.addHandler(_StdoutHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
