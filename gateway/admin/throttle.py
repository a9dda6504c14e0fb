"""Failed admin-key and console sign-in attempts, throttled per client address.

Without it an admin key could be guessed at the speed the gateway answers (~1,300 tries a
second). Each address may fail ``limit`` times in any ``window_s``; past that, its attempts are
refused with 429 and ``Retry-After`` (a right key included: whoever guesses must wait) until its
oldest failure leaves the window. Counted per replica, in memory: an address that spreads its
guesses over N replicas gets N times the rate, still far too slow to guess a key. The table is
bounded: past ``max_addresses`` the address that failed longest ago is forgotten.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from gateway.errors import GatewayError


class TooManyAttempts(GatewayError):
    status = 429
    type = "rate_limit_error"
    default_code = "too_many_attempts"


class Throttle:
    def __init__(self, limit: int = 10, window_s: float = 60.0, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, address: str) -> None:
        """Raise ``TooManyAttempts`` if ``address`` has used up its failures."""
        failures = self._recent(address)
        if failures is not None and len(failures) >= self.limit:
            wait = failures[0] + self.window_s - self.clock()
            raise TooManyAttempts(f"Too many failed attempts from {address}; try again in {math.ceil(wait)}s.",
                                  headers={"retry-after": str(max(1, math.ceil(wait)))})

    def failed(self, address: str) -> None:
        failures = self._recent(address)
        if failures is None:
            failures = self._failures[address] = deque()
            if len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        failures.append(self.clock())

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is not None:
            horizon = self.clock() - self.window_s
            while failures and failures[0] <= horizon:
                failures.popleft()
        return failures
