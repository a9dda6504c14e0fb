"""The console's sign-in token: signed, so it is valid on every replica that has the admin key.

A token is ``<expiry>.<nonce>.<hex HMAC-SHA256 keyed by the admin key over
"grove-console:<expiry>.<nonce>">`` (expiry in unix seconds; the nonce, 16 random hex digits,
makes every sign-in's token its own, so revoking one revokes no other). Changing the admin key signs every console out. The admin key itself
never leaves the server; the cookie carries only the signature. Signing out revokes the token:
``Revocations`` keeps its digest in the shared store until it would have expired anyway, and a
revoked token is refused on every replica.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from gateway.store import Store, StoreUnavailable

COOKIE = "grove_console"
LIFETIME_S = 12 * 3600
CSRF_HEADER = "x-grove-console"
_PREFIX = b"grove-console:"
_MAX_TOKEN = 96  # 10-11 digits, a nonce, two dots and 64 hex digits; anything longer is not ours
_NONCE_HEX = 16


def _signature(key: bytes, signed: str) -> str:
    return hmac.new(key, _PREFIX + signed.encode("ascii"), hashlib.sha256).hexdigest()


def issue(key: bytes, now: float) -> str:
    """A token valid for ``LIFETIME_S`` from ``now``."""
    signed = f"{int(now) + LIFETIME_S}.{secrets.token_hex(_NONCE_HEX // 2)}"
    return f"{signed}.{_signature(key, signed)}"


def valid(token: str, key: bytes, now: float) -> bool:
    """Signed with ``key`` and not expired (nor claiming more than a lifetime ahead)."""
    if len(token) > _MAX_TOKEN:
        return False
    signed, dot, signature = token.rpartition(".")
    expiry, dot2, nonce = signed.partition(".")
    if not dot or not dot2 or not expiry.isascii() or not expiry.isdigit():
        return False
    if len(nonce) != _NONCE_HEX or not all(c in "0123456789abcdef" for c in nonce):
        return False
    if not now < int(expiry) <= now + LIFETIME_S + 60:
        return False
    return hmac.compare_digest(signature.encode("ascii", "replace"), _signature(key, signed).encode("ascii"))

_REVOKED = "grove:console:revoked:"


class Revocations:
    """Signed-out tokens, by digest, each kept until its own expiry."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def revoke(self, token: str, now: float) -> None:
        expiry = token.partition(".")[0]
        left = int(expiry) - now if expiry.isdigit() else 0
        if left > 0:
            await self.store.set(_REVOKED + _digest(token), b"1", ttl_s=left)

    async def revoked(self, token: str) -> bool:
        """Whether ``token`` was signed out; True too when the store cannot say (a console
        session is refused rather than trusted while the store is unreachable)."""
        try:
            return await self.store.get(_REVOKED + _digest(token)) is not None
        except StoreUnavailable:
            return True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()[:32]
