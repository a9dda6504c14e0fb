"""Which names a client key may send as the model (``check_allowed``)."""

from __future__ import annotations

import pytest

from gateway.auth import check_allowed
from gateway.errors import PermissionDenied
from tests.routing_catalogs import key


def test_allowed_models_grant_names_and_their_versions() -> None:
    check_allowed(None, "anything")  # the gateway runs open
    check_allowed(key(), "anything")  # empty: everything
    limited = key(allowed=("mid", "default"))
    for name in ("mid", "mid@2", "default"):
        check_allowed(limited, name)
    for name in ("small", "auto", "small@1"):
        with pytest.raises(PermissionDenied) as caught:
            check_allowed(limited, name)
        assert (caught.value.status, caught.value.param) == (403, "model")


def test_a_key_with_a_default_route_may_send_auto() -> None:
    # Its auto goes to the default route, which the config checked the key may use.
    check_allowed(key(allowed=("fast",), default_route="fast"), "auto")
    with pytest.raises(PermissionDenied):
        check_allowed(key(allowed=("fast",), default_route="fast"), "slow")
