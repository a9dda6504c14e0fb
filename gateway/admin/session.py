"""The console's sign-in token: stateless, so it is valid on every replica that has the admin key.

A token is ``<expiry>.<hex HMAC-SHA256 keyed by the admin key over "grove-console:<expiry>">``
(expiry in unix seconds). Nothing is stored: changing the admin key signs every console out.
The admin key itself never leaves the server; the cookie carries only the signature.
"""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "grove_console"
LIFETIME_S = 12 * 3600
CSRF_HEADER = "x-grove-console"
_PREFIX = b"grove-console:"
_MAX_TOKEN = 96  # 10-11 digits, a dot and 64 hex digits; anything longer is not ours


def _signature(key: bytes, expiry: str) -> str:
    return hmac.new(key, _PREFIX + expiry.encode("ascii"), hashlib.sha256).hexdigest()


def issue(key: bytes, now: float) -> str:
    """A token valid for ``LIFETIME_S`` from ``now``."""
    expiry = str(int(now) + LIFETIME_S)
    return f"{expiry}.{_signature(key, expiry)}"


def valid(token: str, key: bytes, now: float) -> bool:
    """Signed with ``key`` and not expired (nor claiming more than a lifetime ahead)."""
    if len(token) > _MAX_TOKEN:
        return False
    expiry, dot, signature = token.partition(".")
    if not dot or not expiry.isascii() or not expiry.isdigit():
        return False
    if not now < int(expiry) <= now + LIFETIME_S + 60:
        return False
    return hmac.compare_digest(signature.encode("ascii", "replace"), _signature(key, expiry).encode("ascii"))
