"""The live model registry: an immutable snapshot of the catalog, ready for the hot path.

A ``Snapshot`` is built once per catalog version: every name a client may send (route,
model id, ``id@version``) is resolved in advance to a chain of deployments, so a request
costs one dict lookup. The registry publishes its version to the shared store so every
replica can tell which catalog it serves.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway import jsonio
from gateway.auth import Authenticator
from gateway.catalog import Catalog, ModelSpec, ProviderSpec
from gateway.errors import GatewayError, ModelGone, ModelNotFound
from gateway.providers.base import Provider
from gateway.store import Store, StoreUnavailable
from gateway.upstream import Timeouts

log = logging.getLogger("grove.registry")

CURRENT_KEY = "grove:registry:current"
CATALOG_KEY = "grove:registry:catalog:{version}"
_MAX_SUCCESSOR_HOPS = 8


def _openai_compat(spec: ProviderSpec, model: ModelSpec, key: str | None) -> Provider:
    from gateway.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider(spec.base_url, key, spec.headers)


def _anthropic(spec: ProviderSpec, model: ModelSpec, key: str | None) -> Provider:
    from gateway.providers.anthropic import AnthropicProvider

    return AnthropicProvider(spec.base_url, key, default_max_tokens=model.max_output_tokens, headers=spec.headers)


def _gemini(spec: ProviderSpec, model: ModelSpec, key: str | None) -> Provider:
    from gateway.providers.gemini import GeminiProvider

    return GeminiProvider(spec.base_url, key, headers=spec.headers)


ProviderFactory = Callable[[ProviderSpec, ModelSpec, "str | None"], Provider]
PROVIDER_KINDS: Mapping[str, ProviderFactory] = {
    "openai-compatible": _openai_compat,
    "anthropic": _anthropic,
    "gemini": _gemini,
}
LITELLM_KINDS = frozenset({"anthropic", "gemini"})


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model version on one provider: the unit the gateway sends to."""

    model: ModelSpec
    provider_id: str
    provider_kind: str
    provider: Provider
    timeouts: Timeouts

    @property
    def key(self) -> str:
        return f"{self.model.id}@{self.model.version}"


@dataclass(frozen=True, slots=True)
class Resolution:
    route: str | None
    chain: tuple[Deployment, ...]
    deprecation: str | None = None


class Snapshot:
    def __init__(self, catalog: Catalog, env: Mapping[str, str]) -> None:
        self.catalog = catalog
        self.version = catalog.version
        self.created = int(time.time())
        self.secrets: list[str] = []
        self.auth = Authenticator(catalog.keys)
        self.deployments: dict[tuple[str, str], Deployment] = {}
        for model in catalog.models:
            spec = catalog.provider(model.provider)
            assert spec is not None  # the catalog checked every reference
            key = env.get(spec.api_key_env) if spec.api_key_env else None
            if spec.api_key_env and not key:
                log.warning("provider %s: environment variable %s is not set", spec.id, spec.api_key_env)
            if key:
                self.secrets.append(key)
            provider = PROVIDER_KINDS[spec.kind](spec, model, key)
            timeouts = Timeouts(connect_s=spec.connect_timeout_s, total_s=spec.timeout_s)
            self.deployments[(model.id, model.version)] = Deployment(model, spec.id, spec.kind, provider, timeouts)
        self.needs_litellm = any(d.provider_kind in LITELLM_KINDS for d in self.deployments.values())
        self._names: dict[str, Resolution | GatewayError] = {}
        for model in catalog.models:
            for name in (f"{model.id}@{model.version}", model.id):
                if name not in self._names:
                    self._names[name] = self._resolve_model(name)
        for route in catalog.routes:
            self._names[route.name] = self._resolve_route(route.name, route.models)
        self.models_body = self._models_body()

    def resolve(self, name: str) -> Resolution:
        found = self._names.get(name)
        if isinstance(found, Resolution):
            return found
        if found is None:
            raise ModelNotFound(
                f"The model '{name}' does not exist. List the models and routes you can use "
                "with GET /v1/models.",
                param="model",
            )
        raise found

    def model_entry(self, name: str) -> bytes:
        resolution = self.resolve(name)
        return jsonio.dumps(self._entry(name, resolution))

    def _resolve_model(self, name: str) -> Resolution | GatewayError:
        model = self.catalog.resolve(name)
        if model is None:
            return ModelNotFound(f"The model '{name}' does not exist.", param="model")
        seen = [model.id]
        while model.status == "retired":
            if model.successor is None or len(seen) > _MAX_SUCCESSOR_HOPS:
                return ModelGone(
                    f"The model '{name}' has been retired and has no successor. "
                    "List the models you can use with GET /v1/models.",
                    param="model",
                )
            successor = self.catalog.resolve(model.successor)
            if successor is None:
                return ModelGone(f"The model '{name}' has been retired.", param="model")
            model = successor
            seen.append(model.id)
        deprecation = None
        if model.status == "deprecated":
            deprecation = f"model {model.id} is deprecated" + (
                f"; use {model.successor}" if model.successor else ""
            )
        return Resolution(None, (self.deployments[(model.id, model.version)],), deprecation)

    def _resolve_route(self, route: str, names: tuple[str, ...]) -> Resolution | GatewayError:
        chain: list[Deployment] = []
        for name in names:
            found = self._names.get(name) or self._resolve_model(name)
            if isinstance(found, Resolution):
                chain.extend(d for d in found.chain if d not in chain)
        if not chain:
            return ModelGone(f"Every model of route '{route}' has been retired.", param="model")
        return Resolution(route, tuple(chain))

    def _entry(self, name: str, resolution: Resolution) -> dict[str, object]:
        owner = "grove-route" if resolution.route else resolution.chain[0].provider_id
        return {"id": name, "object": "model", "created": self.created, "owned_by": owner}

    def _models_body(self) -> bytes:
        names = [m.id for m in self.catalog.models if m.status != "retired"]
        names += [r.name for r in self.catalog.routes]
        data = []
        for name in dict.fromkeys(names):
            found = self._names.get(name)
            if isinstance(found, Resolution):
                data.append(self._entry(name, found))
        return jsonio.dumps({"object": "list", "data": data})


class Registry:
    """Holds the current snapshot and publishes its version to the store."""

    def __init__(self, store: Store, env: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.env = os.environ if env is None else env
        self._snapshot: Snapshot | None = None

    @property
    def snapshot(self) -> Snapshot:
        assert self._snapshot is not None, "registry not loaded"
        return self._snapshot

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    async def install(self, catalog: Catalog) -> Snapshot:
        snapshot = Snapshot(catalog, self.env)
        self._snapshot = snapshot
        await self.publish()
        return snapshot

    async def publish(self) -> None:
        snapshot = self.snapshot
        try:
            await self.store.set(CATALOG_KEY.format(version=snapshot.version), jsonio.dumps(snapshot.catalog.to_dict()))
            await self.store.set(CURRENT_KEY, snapshot.version.encode())
        except StoreUnavailable as exc:
            log.warning("could not publish registry version %s: %s", snapshot.version, exc)

    async def published_version(self) -> str | None:
        raw = await self.store.get(CURRENT_KEY)
        return raw.decode() if raw is not None else None
