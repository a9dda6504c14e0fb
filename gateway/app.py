"""The composition root: ``create_app(settings)`` builds every part and wires them together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import accesslog
from gateway.admin.api import AdminAPI
from gateway.api import OpenAIAPI, error_response, health_routes
from gateway.breaker import Breakers
from gateway.catalog import Catalog, load_catalog
from gateway.decisions import DecisionLog
from gateway.errors import GatewayError, MethodNotAllowed, NotFound
from gateway.pipeline import Pipeline, RetryPolicy
from gateway.redact import Redactor
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.stats import Stats
from gateway.store import make_store
from gateway.telemetry.core import Telemetry
from gateway.telemetry.middleware import TelemetryMiddleware
from gateway.telemetry.usage import UsageLog
from gateway.upstream import UpstreamPool

log = logging.getLogger("grove.app")


def create_app(settings: Settings, env: Mapping[str, str] | None = None, catalog: Catalog | None = None,
               telemetry: Telemetry | None = None) -> Starlette:
    """Build the gateway. ``catalog`` overrides loading ``settings.config_dir`` (tests, demo);
    ``telemetry`` replaces the one built from ``settings`` (tests inject in-memory exporters).
    The app's telemetry is ``app.state.telemetry``."""
    store = make_store(settings.redis_url)
    registry = Registry(store, env)
    telemetry = telemetry or Telemetry(settings)
    usage = UsageLog(store, retention_days=settings.usage_retention_days)
    telemetry.usage = usage
    telemetry.provider_url = lambda provider_id: _base_url(registry, provider_id)
    pool = UpstreamPool()
    breakers = Breakers(store, settings.breaker_policy)
    policy = RetryPolicy(retries=settings.retries, deadline_s=settings.request_deadline_s, ttft_s=settings.ttft_s)
    pipeline = Pipeline(pool, Redactor(()), breakers, Stats(), policy)
    decisions = DecisionLog(store)
    api = OpenAIAPI(registry, pipeline, decisions, settings.max_body_bytes)
    admin = AdminAPI(settings.admin_key, registry, decisions, breakers, usage)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        snapshot = await registry.install(catalog if catalog is not None else load_catalog(settings.config_dir))
        pipeline.redact = Redactor([*snapshot.secrets, settings.admin_key or ""])
        telemetry.prepare(snapshot.deployments.values())
        if snapshot.needs_litellm:
            from gateway.providers import litellm_bridge

            litellm_bridge.load()
        if snapshot.auth.open:
            log.warning(
                "NO CLIENT KEYS CONFIGURED: the gateway accepts requests from anyone who can reach it. "
                "Add keys under 'keys:' in the config to require them."
            )
        await pool.start()
        decisions.start()
        usage.start()
        telemetry.start()
        log.info("registry version %s loaded: %d models, %d routes, store=%s", snapshot.version,
                 len(snapshot.catalog.models), len(snapshot.catalog.routes), store.backend)
        try:
            yield
        finally:
            await decisions.stop()
            await usage.stop()
            await telemetry.stop()
            await pool.close()
            await store.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}."))
        if exc.status_code == 404:
            return error_response(NotFound(f"There is no endpoint {request.method} {request.url.path}."))
        err = GatewayError(str(exc.detail))
        err.status = exc.status_code  # type: ignore[misc]
        return error_response(err)

    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return error_response(GatewayError("The gateway hit an internal error. The request was not completed."))

    async def metrics(request: Request) -> Response:
        body, content_type = telemetry.metrics_exposition(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    app = Starlette(
        routes=[*api.routes(), *health_routes(registry), Route("/metrics", metrics, methods=["GET"]), *admin.routes()],
        middleware=[Middleware(TelemetryMiddleware, telemetry=telemetry)],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, GatewayError: gateway_error, Exception: unexpected},
    )
    app.state.telemetry = telemetry
    return app


def _base_url(registry: Registry, provider_id: str) -> str | None:
    spec = registry.snapshot.catalog.provider(provider_id) if registry.loaded else None
    return spec.base_url if spec is not None else None


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` and for every worker of ``grove-gateway serve``."""
    settings = Settings.from_env()
    if settings.access_log:
        accesslog.install_stdout_handler()
    return create_app(settings)
