"""Explicit capability hints: what a client says matters for this request.

One syntax, two carriers: the header ``x-grove-capabilities: reasoning=3,speed=1`` and, for
clients that can only shape the body (the openai SDK without extra headers), the metadata entry
``{"metadata": {"grove_capabilities": "reasoning=3,speed=1"}}`` (OpenAI's ``metadata`` values are
strings, so the syntax is the same). The header wins when both are sent. Names are the catalog's
capabilities; weights are numbers from 0 to 10, like a model's scores; capabilities left out
weigh 0. A malformed hint is the client's mistake and answers 400 naming its carrier.

OpenAI refuses ``metadata`` unless ``store`` is set, so the hint must not reach an upstream:
``without_hint`` gives the body to forward.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gateway.catalog_schema import CAPABILITIES
from gateway.errors import InvalidRequest
from gateway.yamlload import did_you_mean

HEADER = "x-grove-capabilities"
METADATA_KEY = "grove_capabilities"
_MAX_LENGTH = 256
_MAX_WEIGHT = 10.0
_INDEX = {name: index for index, name in enumerate(CAPABILITIES)}
_EXAMPLE = "reasoning=3,speed=1"

Needs = tuple[float, float, float, float, float]
"""Weights in ``CAPABILITIES`` order: reasoning, creativity, precision, speed, context."""


def parse_hint(text: str, param: str) -> Needs | None:
    """``"reasoning=3,speed=1"`` → weights; None for a blank value. Raises InvalidRequest."""
    if not text.strip():
        return None
    if len(text) > _MAX_LENGTH:
        raise _bad(param, f"is longer than {_MAX_LENGTH} characters")
    weights = [0.0] * len(CAPABILITIES)
    seen: set[str] = set()
    for pair in text.split(","):
        name, eq, raw = pair.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise _bad(param, f"must be name=weight pairs separated by commas, like '{_EXAMPLE}'")
        index = _INDEX.get(name)
        if index is None:
            known = ", ".join(CAPABILITIES)
            raise _bad(param, f"names an unknown capability {name!r}{did_you_mean(name, CAPABILITIES)}; use {known}")
        if name in seen:
            raise _bad(param, f"gives {name!r} twice")
        seen.add(name)
        weights[index] = _weight(raw.strip(), name, param)
    if not any(weights):
        raise _bad(param, "must give at least one capability a weight above 0")
    return (weights[0], weights[1], weights[2], weights[3], weights[4])


def hint_from(body: Mapping[str, Any], headers: Mapping[str, str]) -> tuple[Needs | None, str | None]:
    """The request's hint and where it came from (``"header"``, ``"metadata"`` or None)."""
    header = headers.get(HEADER)
    if header is not None:
        needs = parse_hint(header, HEADER)
        if needs is not None:
            return needs, "header"
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping):
        value = metadata.get(METADATA_KEY)
        if value is not None:
            param = f"metadata.{METADATA_KEY}"
            if not isinstance(value, str):
                raise _bad(param, f"must be a string like '{_EXAMPLE}'")
            needs = parse_hint(value, param)
            if needs is not None:
                return needs, "metadata"
    return None, None


def without_hint(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The body to send upstream with the metadata hint removed (and ``metadata`` itself if that
    leaves it empty), or None when the body carries no hint and can be forwarded as it is."""
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping) or METADATA_KEY not in metadata:
        return None
    rest = {k: v for k, v in metadata.items() if k != METADATA_KEY}
    out = {k: v for k, v in body.items() if k != "metadata"}
    if rest:
        out["metadata"] = rest
    return out


def _weight(raw: str, name: str, param: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0.0 <= value <= _MAX_WEIGHT):  # also refuses nan and inf
        raise _bad(param, f"weight of {name!r} must be a number from 0 to 10, not {raw!r}")
    return value


def _bad(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"The capability hint {param} {problem}.", param=param, code="invalid_capability_hint")
