"""Guessing the admin key: failed attempts are throttled per client address, by the admin API and
by the console's sign-in alike (one count for both)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.admin.throttle import Throttle, TooManyAttempts
from tests.conftest import GatewayFactory

ADMIN_KEY = "admin-key-for-throttle-tests"


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_past_its_failures_until_they_leave_the_window() -> None:
    clock = Clock()
    throttle = Throttle(limit=3, window_s=60, max_addresses=2, clock=clock)
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
        clock.now += 10
    with pytest.raises(TooManyAttempts) as caught:
        throttle.check("10.0.0.1")
    assert caught.value.status == 429 and caught.value.headers["retry-after"] == "30"  # the first left at 160
    throttle.check("10.0.0.2")  # another address is not held back
    clock.now = 160.0
    throttle.check("10.0.0.1")  # the oldest failure has left the window
    throttle.failed("10.0.0.2")
    throttle.failed("10.0.0.3")  # past max_addresses the one that failed longest ago is forgotten
    assert set(throttle._failures) == {"10.0.0.2", "10.0.0.3"}  # noqa: SLF001 - the bound itself


def test_guessing_the_admin_key_over_http_is_throttled(start_gateway: GatewayFactory, demo_config: Path) -> None:
    gateway = start_gateway(demo_config, admin_key=ADMIN_KEY)
    for _ in range(10):
        assert httpx.get(f"{gateway.url}/admin/breakers", headers={"authorization": "Bearer guess"}).status_code == 403
    refused = httpx.get(f"{gateway.url}/admin/breakers", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "too_many_attempts"
    sign_in = httpx.post(f"{gateway.url}/console/session", data={"admin_key": ADMIN_KEY})
    assert sign_in.status_code == 429  # the console's sign-in shares the count
