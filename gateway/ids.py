"""Random ids for the request path: 128 bits from the OS's CSPRNG, as ``uuid4().hex`` gives, but
one ``os.urandom`` call per 256 ids rather than a system call per request."""

from __future__ import annotations

import os

_BATCH = 256


class IdSource:
    """Not thread-safe: one per event loop (the API handler owns one)."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def hex(self) -> str:
        """32 lowercase hex digits, never repeated, never predictable from earlier ones."""
        at = self._at
        if at + 16 > len(self._pool):
            self._pool, at = os.urandom(16 * _BATCH), 0
        self._at = at + 16
        return self._pool[at:at + 16].hex()
