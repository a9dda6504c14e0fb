"""Client keys: a bearer key maps, by its SHA-256, to the principal configured for it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from gateway.catalog import KeySpec
from gateway.errors import AuthenticationFailed, PermissionDenied


class Authenticator:
    """With no keys configured the gateway runs open (and says so loudly at start-up)."""

    def __init__(self, keys: Iterable[KeySpec]) -> None:
        self._by_hash = {k.sha256.lower(): k for k in keys}

    @property
    def open(self) -> bool:
        return not self._by_hash

    def authenticate(self, headers: Mapping[str, str]) -> KeySpec | None:
        if not self._by_hash:
            return None
        header = headers.get("authorization")
        if not header:
            # The Anthropic SDK sends its key as 'x-api-key'; it is the same client key.
            api_key = headers.get("x-api-key", "").strip()
            if not api_key:
                raise AuthenticationFailed(
                    "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
                    code="missing_api_key",
                )
            return self._key(api_key)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("The Authorization header must be 'Bearer <key>'.")
        return self._key(token)

    def _key(self, token: str) -> KeySpec:
        key = self._by_hash.get(hashlib.sha256(token.encode()).hexdigest())
        if key is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return key


def check_allowed(key: KeySpec | None, name: str) -> None:
    """May ``key`` send ``name`` as the model? ``auto`` is also allowed to a key with a
    ``default_route``: its ``auto`` goes there, a route the config checked it may use."""
    if key is None or not key.allowed_models:
        return
    if name in key.allowed_models or name.partition("@")[0] in key.allowed_models:
        return
    if name == "auto" and key.default_route is not None:
        return
    raise PermissionDenied(f"This API key may not use the model '{name}'.", param="model")
