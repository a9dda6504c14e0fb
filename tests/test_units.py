"""Small pure parts: settings, redaction, Retry-After parsing, error bodies."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest

from gateway import jsonio
from gateway.errors import UpstreamRateLimited
from gateway.providers.errormap import retry_after_s, safe_message
from gateway.redact import MASK, Redactor
from gateway.settings import Settings, SettingsError


def test_settings_from_env() -> None:
    s = Settings.from_env({"GROVE_PORT": "9000", "GROVE_HOST": "0.0.0.0", "GROVE_CONFIG_DIR": "/etc/grove",
                           "GROVE_REDIS_URL": "redis://r:6379/0", "GROVE_MAX_BODY_BYTES": "2048"})
    assert (s.port, s.host, s.config_dir, s.redis_url, s.max_body_bytes) == (
        9000, "0.0.0.0", Path("/etc/grove"), "redis://r:6379/0", 2048)
    defaults = Settings.from_env({})
    assert (defaults.host, defaults.port, defaults.redis_url, defaults.max_body_bytes) == (
        "127.0.0.1", 8080, None, 10 * 1024 * 1024)
    with pytest.raises(SettingsError, match="GROVE_PORT"):
        Settings.from_env({"GROVE_PORT": "eighty"})
    with pytest.raises(SettingsError, match="at least 1"):
        Settings.from_env({"GROVE_MAX_BODY_BYTES": "-1"})


def test_redactor_masks_every_secret_longest_first() -> None:
    redact = Redactor(["sk-abcdef", "sk-abcdef-longer", "", "abc"])
    assert redact("keys sk-abcdef-longer and sk-abcdef") == f"keys {MASK} and {MASK}"
    assert redact("abc stays (too short to be a key)") == "abc stays (too short to be a key)"


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after": "7"}) == 7
    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_s({"Retry-After": "3"}) == 3
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (retry_after_s({"retry-after": future}) or 0) <= 60
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


def test_safe_message_bounds_and_flattens() -> None:
    assert safe_message("a\n  b") == "a b"
    assert safe_message(None) == ""
    assert len(safe_message("x" * 5000)) == 500


def test_error_body_and_retry_after_header() -> None:
    err = UpstreamRateLimited("slow down", retry_after=2.4)
    assert jsonio.loads(err.body()) == {"error": {"message": "slow down", "type": "rate_limit_error",
                                                  "param": None, "code": "rate_limit_exceeded"}}
    assert err.headers == {"retry-after": "2"} and err.status == 429
