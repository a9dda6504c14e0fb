"""The one place that speaks orjson: fast JSON in and out as bytes."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises JSONDecodeError on malformed input, invalid UTF-8 or too-deep nesting."""
    return orjson.loads(data)


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON bytes."""
    return orjson.dumps(obj)


def dumps_pretty(obj: Any, *, sort_keys: bool = True) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | (orjson.OPT_SORT_KEYS if sort_keys else 0))
