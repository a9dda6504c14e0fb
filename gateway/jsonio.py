"""The one place that speaks orjson: fast JSON in and out as bytes."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError
MAX_DEPTH = 128
"""How deeply a client's JSON may nest. orjson parses 1,024 levels but writes only 254, and a
request the gateway accepted must be one it can write again (to an upstream, into a log, inside
a translation's envelope): deeper bodies are refused as they are read."""


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises JSONDecodeError on malformed input, invalid UTF-8 or too-deep nesting."""
    return orjson.loads(data)


def loads_request(raw: bytes) -> Any:
    """Parse a client's body; JSONDecodeError also for nesting deeper than ``MAX_DEPTH``. Only a
    body with that many brackets at all is walked, so an ordinary request pays two byte counts."""
    data = orjson.loads(raw)
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise JSONDecodeError(f"nesting is too deep: more than {MAX_DEPTH} levels", "", 0)
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON bytes."""
    return orjson.dumps(obj)


def dumps_pretty(obj: Any, *, sort_keys: bool = True) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | (orjson.OPT_SORT_KEYS if sort_keys else 0))
