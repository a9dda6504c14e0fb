"""The one place that speaks orjson: fast JSON in and out as bytes."""

from __future__ import annotations

import json
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


class DuplicateKey(ValueError):
    """A client's JSON object names one key twice: orjson keeps the last, and an upstream that
    gets the bytes may read the first, so what was checked would not be what is sent."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def loads_request(raw: bytes) -> Any:
    """Parse a client's body; JSONDecodeError also for nesting deeper than ``MAX_DEPTH``,
    ``DuplicateKey`` for a top-level key given twice. Only a body with that many brackets at all
    is walked, and only one in which a top-level key's name occurs twice, or that has a ``\\u``
    escape, is parsed again (by the standard library, which sees every pair): an ordinary request
    pays a few byte counts."""
    data = orjson.loads(raw)
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise JSONDecodeError(f"nesting is too deep: more than {MAX_DEPTH} levels", "", 0)
    if type(data) is dict and _may_repeat_a_key(raw, data):
        duplicate = _duplicate_top_key(raw)
        if duplicate is not None:
            raise DuplicateKey(duplicate)
    return data


_QUOTED: dict[str, bytes] = {}
"""Top-level keys as they are spelled in JSON, the usual few kept (the hot path asks per request)."""


def _may_repeat_a_key(raw: bytes, data: dict[str, Any]) -> bool:
    if b"\\u" in raw:  # a key may be written with escapes ("mod\u0065l" is "model")
        return True
    count = raw.count
    for key in data:
        quoted = _QUOTED.get(key)
        if quoted is None:
            quoted = b'"%s"' % key.encode()
            if len(_QUOTED) < 256:
                _QUOTED[key] = quoted
        if count(quoted) > 1:
            return True
    return False


def _duplicate_top_key(raw: bytes) -> str | None:
    last: list[str | None] = [None]

    def pairs(items: list[tuple[str, Any]]) -> None:  # called innermost first: the top level is last
        seen: set[str] = set()
        last[0] = None
        for key, _ in items:
            if key in seen:
                last[0] = key
                return
            seen.add(key)

    json.loads(raw, object_pairs_hook=pairs)
    return last[0]


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
