"""Builders shared by the routing tests: small catalogs written the way an operator would."""

from __future__ import annotations

from typing import Any

from gateway.catalog import Catalog, KeySpec
from gateway.routing import Features

HEX = "ab" * 32


def model(
    model_id: str,
    *,
    window: int = 100_000,
    max_out: int = 4_096,
    caps: tuple[float, float, float, float, float] = (5, 5, 5, 5, 5),
    price: tuple[float, float] = (1.0, 2.0),
    tools: bool = True,
    vision: bool = True,
    json: bool = True,
    streaming: bool = True,
    status: str = "active",
    successor: str | None = None,
    version: str = "1",
) -> dict[str, Any]:
    names = ("reasoning", "creativity", "precision", "speed", "context")
    spec: dict[str, Any] = {
        "id": model_id,
        "provider": "p",
        "version": version,
        "context_window": window,
        "max_output_tokens": max_out,
        "capabilities": dict(zip(names, caps)),
        "supports": {"tools": tools, "vision": vision, "json": json, "streaming": streaming},
        "prices": {"input_per_mtok": price[0], "output_per_mtok": price[1]},
        "status": status,
    }
    if successor is not None:
        spec["successor"] = successor
    return spec


def catalog(
    *models: dict[str, Any],
    routes: list[dict[str, Any]] | None = None,
    components: dict[str, str] | None = None,
    keys: list[dict[str, Any]] | None = None,
) -> Catalog:
    provider = {"id": "p", "kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"}
    data: dict[str, Any] = {"providers": [provider], "models": list(models), "routes": routes or []}
    if components is not None:
        data["components"] = components
    if keys is not None:
        data["keys"] = keys
    return Catalog.from_dict(data)


def key(name: str = "app", allowed: tuple[str, ...] = (), default_component: str | None = None,
        default_route: str | None = None) -> KeySpec:
    data: dict[str, Any] = {"name": name, "sha256": HEX, "allowed_models": list(allowed)}
    if default_component is not None:
        data["default_component"] = default_component
    if default_route is not None:
        data["default_route"] = default_route
    return KeySpec.model_validate(data)


def features(input_tokens: int = 100, max_tokens: int | None = None, **extra: Any) -> Features:
    """Features as given; ``inferred``/``signals`` stand in for what inference would find."""
    inferred = extra.pop("inferred", None)
    signals = extra.pop("signals", ())
    made = Features(input_tokens=input_tokens, max_tokens=max_tokens, **extra)
    if inferred is not None:
        made._inference.append((inferred, tuple(signals)))
    return made
