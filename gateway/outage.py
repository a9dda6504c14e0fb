"""How a background writer reports a store it cannot reach: one line when the store goes away,
one when it answers again, and a count in between.

A writer that logged each failed flush wrote ~8 warnings a second per replica during a Redis
outage (decision log, usage, perf, events, catalog publication), burying everything else. An
``Outage`` per writer logs the first failure as a warning, then only counts; while the outage
lasts it repeats the count every ``remind_s``; the first success after it logs how long it
lasted and how many writes failed meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Outage:
    __slots__ = ("_log", "_what", "_problem", "_recovered", "_level", "_remind_s", "_clock", "_since",
                 "_failures", "_reminded")

    def __init__(self, logger: logging.Logger, what: str, *, remind_s: float = 60.0,
                 problem: str = "store unreachable", recovered: str = "store answers again",
                 level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic) -> None:
        """``what`` names the writer in its lines ("decision log"); ``problem`` and ``recovered``
        say what went wrong and right; ``level`` is the failure lines'; ``clock`` is for tests."""
        self._log = logger
        self._what = what
        self._problem = problem
        self._recovered = recovered
        self._level = level
        self._remind_s = remind_s
        self._clock = clock
        self._since: float | None = None  # when the outage began; None: the store answers
        self._failures = 0
        self._reminded = 0.0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException, kept: str = "", *, trace: bool = False) -> None:
        """A write failed; ``kept`` says what became of it ("12 records kept locally"). ``trace``:
        the outage's first line carries the traceback (an unexpected error, not a plain outage)."""
        now = self._clock()
        self._failures += 1
        detail = f"; {kept}" if kept else ""
        if self._since is None:
            self._since = self._reminded = now
            self._log.log(self._level, "%s: %s (%s)%s; further failures are counted until one succeeds",
                          self._what, self._problem, str(exc) or type(exc).__name__, detail,
                          exc_info=exc if trace else None)
        elif now - self._reminded >= self._remind_s:
            self._reminded = now
            self._log.log(self._level, "%s: %s for %.0fs, %d writes failed so far%s",
                          self._what, self._problem, now - self._since, self._failures, detail)

    def ok(self) -> None:
        """A write went through: closes the outage, if there was one (a cheap test otherwise)."""
        if self._since is None:
            return
        self._log.info("%s: %s after %.1fs; %d writes failed meanwhile",
                       self._what, self._recovered, self._clock() - self._since, self._failures)
        self._since, self._failures = None, 0
