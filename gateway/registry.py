"""The live model registry: an immutable snapshot of the catalog, ready for the hot path.

A ``Snapshot`` is built once per catalog version: a deployment (provider adapter, timeouts)
for every model version, the router, and the ``/v1/models`` answers, so a request does no
config work. ``Registry.swap`` replaces the snapshot in one assignment: a request reads
``registry.snapshot`` once and keeps that snapshot to its end, so a swap never fails a request
in flight. Which catalog to install, and publishing it to the shared store so every replica
converges, is ``gateway.livecatalog``'s job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway import jsonio
from gateway.auth import Authenticator
from gateway.catalog import Catalog, ModelSpec, ProviderSpec, RouteSpec
from gateway.errors import ModelNotFound
from gateway.providers import litellm_bridge
from gateway.providers.base import Provider
from gateway.routing import AUTO, Router
from gateway.store import Store
from gateway.upstream import Timeouts

log = logging.getLogger("grove.registry")

CURRENT_KEY = "grove:registry:current"
CATALOG_KEY = "grove:registry:catalog:{version}"


def publication(catalog: Catalog) -> list[tuple[str, bytes]]:
    """The store keys that publish ``catalog``, in the order to write them: the catalog under its
    version, then the current version (so a replica that sees the version finds the catalog)."""
    return [(CATALOG_KEY.format(version=catalog.version), jsonio.dumps(catalog.to_dict())),
            (CURRENT_KEY, catalog.version.encode())]  # fmt: skip


def published_catalog(raw: bytes) -> Catalog:
    """A catalog as ``publication`` stored it, re-checked; raises ConfigError or JSONDecodeError."""
    return Catalog.from_dict(jsonio.loads(raw), source="published catalog")


def _openai_compat(spec: ProviderSpec, model: ModelSpec, key: str | None) -> Provider:
    from gateway.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider(spec.base_url, key, spec.headers, responses_api=spec.responses_api)


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
    key: str = field(init=False)
    """``id@version``: the name breakers, stats, decisions and telemetry know it by."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.model.id}@{self.model.version}")  # asked several times a request


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
        self.deployments_by_key = {d.key: d for d in self.deployments.values()}
        self.needs_litellm = any(d.provider_kind in LITELLM_KINDS for d in self.deployments.values())
        self.router = Router(catalog)
        self._entries = self._model_entries()
        self.models_body = jsonio.dumps({"object": "list", "data": [
            entry for name, entry in self._entries.items() if "@" not in name
        ]})

    def chain(self, keys: tuple[str, ...]) -> tuple[Deployment, ...]:
        return tuple(self.deployments_by_key[key] for key in keys)

    def model_entry(self, name: str) -> bytes:
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFound(
                f"The model '{name}' does not exist. List the models and routes you can use with GET /v1/models.",
                param="model",
            )
        return jsonio.dumps(entry)

    def _model_entries(self) -> dict[str, dict[str, object]]:
        """OpenAI-shaped entries for every name a client may send: models that still serve
        (by id and by ``id@version``), routes, and ``auto``."""
        entries: dict[str, dict[str, object]] = {}
        for model in self.catalog.models:
            if model.status == "retired":
                continue
            for name in (model.id, f"{model.id}@{model.version}"):
                entries.setdefault(name, self._entry(name, model.provider, model.mode))
        for route in self.catalog.routes:
            entries[route.name] = self._entry(route.name, "grove-route", self._route_mode(route))
        entries[AUTO] = self._entry(AUTO, "grove-route", "chat")
        return entries

    def _entry(self, name: str, owner: str, mode: str) -> dict[str, object]:
        # ``mode`` is the gateway's addition to OpenAI's model object: which endpoint serves the name.
        return {"id": name, "object": "model", "created": self.created, "owned_by": owner, "mode": mode}

    def _route_mode(self, route: RouteSpec) -> str:
        """A route's models are all of one mode (the catalog checks it); one without models is chat."""
        refs = (*route.models, *(ref for variant in route.variants for ref in variant.models))
        found = (self.catalog.resolve(ref) for ref in refs)
        return next((spec.mode for spec in found if spec is not None), "chat")


class Registry:
    """Holds the current snapshot; ``gateway.livecatalog`` decides what it holds and publishes it."""

    def __init__(self, store: Store, env: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.env = os.environ if env is None else env
        self._snapshot: Snapshot | None = None
        self.bridge_loading: asyncio.Task[object] | None = None
        """litellm's import, in a worker thread, while a snapshot needs it and it is not done."""
        self.on_swap: list[Callable[[Snapshot], None]] = []
        """Called with each new snapshot as it is installed (app-wide parts that follow the
        catalog: secret redaction, telemetry's per-deployment attributes)."""

    @property
    def snapshot(self) -> Snapshot:
        assert self._snapshot is not None, "registry not loaded"
        return self._snapshot

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    def swap(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        if snapshot.needs_litellm:
            self._load_bridge()
        for hook in self.on_swap:
            hook(snapshot)

    def _load_bridge(self) -> None:
        """Import litellm off the event loop: the gateway is live meanwhile and serves models that
        don't need it; a request that does awaits ``bridge_loading``, and ``/readyz`` says not ready."""
        if self.bridge_loading is not None or litellm_bridge.loaded():
            return
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(litellm_bridge.load), name="litellm-import")

        def done(finished: asyncio.Task[object]) -> None:
            self.bridge_loading = None
            if not finished.cancelled() and finished.exception() is not None:
                log.error("loading litellm failed: %r", finished.exception())

        task.add_done_callback(done)
        self.bridge_loading = task

    @property
    def ready(self) -> bool:
        return self._snapshot is not None and self.bridge_loading is None

    async def published_version(self) -> str | None:
        raw = await self.store.get(CURRENT_KEY)
        return raw.decode() if raw is not None else None
