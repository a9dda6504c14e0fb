"""Helpers shared by the adapters when they map an upstream error into the error tree."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

_MAX_MESSAGE = 500


def safe_message(raw: object) -> str:
    """An upstream error message fit to show a client: a bounded single string.

    Secrets are scrubbed later, at the one place that knows them (``secrets.Redactor``).
    """
    if not isinstance(raw, str):
        return ""
    text = " ".join(raw.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP date)."""
    raw_ms = _get(headers, "retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = _get(headers, "retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return value
