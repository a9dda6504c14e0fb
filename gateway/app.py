"""The composition root: ``create_app(settings)`` builds every part and wires them together."""

from __future__ import annotations

import gc
import hmac
import logging
import os
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from gateway import accesslog, api_docs, cpupin, jsonio
from gateway.admin.api import AdminAPI
from gateway.admin.console import ROOT as CONSOLE_ROOT, Console
from gateway.admin.model_test import ModelTester
from gateway.admin.throttle import Throttle
from gateway.api import ModelAPI, error_response, health_routes
from gateway.breaker import Breakers
from gateway.catalog import Catalog
from gateway.decisions import DecisionLog
from gateway.endpoints.chat import CHAT
from gateway.endpoints.completions import COMPLETIONS
from gateway.endpoints.count_tokens import count_tokens_route
from gateway.endpoints.embeddings import EMBEDDINGS
from gateway.endpoints.messages import MessagesEndpoint
from gateway.endpoints.response_store import ResponseStore
from gateway.endpoints.responses import ResponsesEndpoint
from gateway.errors import AuthenticationFailed, GatewayError, MethodNotAllowed, NotFound
from gateway.limits import Limiter
from gateway.livecatalog import LiveCatalog
from gateway.events import Events
from gateway.hotpath import HotPath
from gateway.httpserver import WRITE_TIMEOUT_KEY
from gateway.openapi import ApiRoute, build_document
from gateway.pipeline import Pipeline, RetryPolicy
from gateway.redact import Redactor
from gateway.registry import Registry, Snapshot
from gateway.settings import Settings
from gateway.shutdown import on_shutdown_signal
from gateway.stats import Stats
from gateway.store import make_store
from gateway.telemetry.core import Telemetry
from gateway.telemetry.middleware import TelemetryMiddleware
from gateway.telemetry.perf import PerfLog
from gateway.telemetry.usage import UsageLog
from gateway.upstream import UpstreamPool

log = logging.getLogger("grove.app")


def create_app(settings: Settings, env: Mapping[str, str] | None = None, catalog: Catalog | None = None,
               telemetry: Telemetry | None = None,
               publish_event: Callable[[str, dict[str, object]], None] | None = None,
               console_dir: Path = CONSOLE_ROOT) -> Starlette:
    """Build the gateway. ``catalog`` is taken as the config files' catalog at start instead of
    loading ``settings.config_dir`` (tests, demo; runtime changes and reloads still apply);
    ``telemetry`` replaces the one built from ``settings`` (tests inject in-memory exporters);
    ``publish_event(kind, data)`` receives the catalog's change events (``model.registered``,
    ``config.reloaded``, ...); ``console_dir`` holds the web console's files. The app's
    telemetry is ``app.state.telemetry``, its live catalog (runtime changes, reloads)
    ``app.state.live``."""
    store = make_store(settings.redis_url)
    registry = Registry(store, env)
    telemetry = telemetry or Telemetry(settings)
    usage = UsageLog(store, retention_days=settings.usage_retention_days)
    telemetry.usage = usage
    perf = telemetry.perf = PerfLog(store)
    telemetry.provider_url = lambda provider_id: _base_url(registry, provider_id)
    pool = UpstreamPool()
    events = Events(store)
    breakers = Breakers(store, settings.breaker_policy, publish=events.publish)
    policy = RetryPolicy(retries=settings.retries, deadline_s=settings.request_deadline_s, ttft_s=settings.ttft_s)
    pipeline = Pipeline(pool, Redactor(()), breakers, Stats(), policy)
    decisions = DecisionLog(store)
    limiter = Limiter(store, on_exceeded=lambda key, limit, retry_after_s: events.publish(
        "limit.exceeded", {"key": key, "limit": limit, "retry_after_s": round(retry_after_s, 3)}))
    messages = MessagesEndpoint(registry)
    responses = ResponsesEndpoint(ResponseStore(store, settings.responses_ttl_s), registry)
    api = ModelAPI(registry, pipeline, decisions, settings.max_body_bytes, limiter,
                   endpoints=(CHAT, responses, messages, EMBEDDINGS, COMPLETIONS))

    def publish(kind: str, data: dict[str, object]) -> None:
        events.publish(kind, data)
        if publish_event is not None:
            publish_event(kind, data)

    live = LiveCatalog(registry, settings.config_dir, publish_event=publish,
                       sync_interval_s=settings.sync_interval_s,
                       reload_interval_s=settings.reload_interval_s if settings.reload else None)
    throttle = Throttle(settings.admin_failures_per_minute)  # failed admin-key guesses, by the API and the console's sign-in alike
    admin = AdminAPI(settings.admin_key, registry, decisions, breakers, usage, events, live=live,
                     health=pipeline.health, perf=perf,
                     tester=ModelTester(registry, pool, telemetry.costs, [settings.admin_key or ""]),
                     throttle=throttle, endpoints=api.endpoints)

    def follow(snapshot: Snapshot) -> None:
        # App-wide parts that depend on the catalog follow each snapshot as it is swapped in.
        pipeline.redact = events.redact = Redactor([*snapshot.secrets, settings.admin_key or "",
                                                    settings.metrics_key or ""])
        telemetry.prepare(snapshot.deployments.values())

    registry.on_swap.append(follow)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, float]]:
        snapshot = await live.start(catalog)
        if registry.bridge_loading is not None:  # once litellm is in, its objects are start-up's too
            registry.bridge_loading.add_done_callback(lambda _: _settle_gc())
        if snapshot.auth.open:
            log.warning(
                "NO CLIENT KEYS CONFIGURED: the gateway accepts requests from anyone who can reach it. "
                "Add keys under 'keys:' in the config to require them."
            )
        await pool.start()
        decisions.start()
        usage.start()
        perf.start()
        events.start()
        telemetry.start()
        log.info("registry version %s loaded: %d models, %d routes, store=%s", snapshot.version,
                 len(snapshot.catalog.models), len(snapshot.catalog.routes), store.backend)
        _settle_gc()
        try:
            # On SIGTERM the open event streams end first, or the server would wait on them.
            with on_shutdown_signal(events.close_subscriptions):
                # The server's write deadline (``httpserver``) reads it from the lifespan state.
                yield {WRITE_TIMEOUT_KEY: settings.client_write_timeout_s}
        finally:
            await limiter.stop()
            await live.stop()
            await events.stop()
            await decisions.stop()
            await usage.stop()
            await perf.stop()
            await telemetry.stop()
            await pool.close()
            await responses.responses.drain()
            await store.close()

    shapes = {endpoint.path: endpoint for endpoint in api.endpoints}  # each endpoint's own error shape

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:  # with Starlette's Allow header: the methods the path has
            refused = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.")
            endpoint = shapes.get(request.url.path)
            if endpoint is not None:  # GET /v1/messages: Anthropic's shape, for the Anthropic SDK
                return endpoint.error_response(refused, exc.headers or {})
            return error_response(refused, exc.headers)
        if exc.status_code == 404:
            return error_response(NotFound(
                f"There is no endpoint {request.method} {request.url.path}. The gateway serves "
                + ", ".join(f"POST {endpoint.path}" for endpoint in api.endpoints)
                + ", GET /v1/models and GET /v1/models/{model}."))
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
        if settings.metrics_key is not None and not hmac.compare_digest(
                request.headers.get("authorization", "").encode(), f"Bearer {settings.metrics_key}".encode()):
            return error_response(AuthenticationFailed("GET /metrics needs the metrics key: "
                                                       "'Authorization: Bearer <GROVE_METRICS_KEY>'."))
        body, content_type = telemetry.metrics_exposition(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    document: list[bytes] = []  # built from the route table on first request, then kept

    async def openapi(request: Request) -> Response:
        if not document:
            document.append(jsonio.dumps(build_document(app.routes)))
        return Response(document[0], media_type="application/json")

    api_routes = api.routes()
    app = Starlette(
        routes=[
            *api_routes, *responses.routes(), *health_routes(registry),
            count_tokens_route(registry, pipeline, messages, settings.max_body_bytes),
            ApiRoute("/metrics", metrics, methods={"GET": api_docs.METRICS}),
            ApiRoute("/openapi.json", openapi, methods={"GET": api_docs.OPENAPI}),
            *admin.routes(),
            *Console(settings.admin_key, console_dir, throttle=throttle, store=store).routes(),
        ],
        middleware=[Middleware(TelemetryMiddleware, telemetry=telemetry),
                    Middleware(HotPath, routes=[r for r in api_routes if r.path in api.handlers],
                               handlers=api.handlers)],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, GatewayError: gateway_error, Exception: unexpected},
    )
    app.state.telemetry = telemetry
    app.state.limiter = limiter
    app.state.live = live
    app.state.events = events
    return app


def _settle_gc() -> None:
    """Everything built at start-up (litellm's import alone is ~1M objects) lives as long as the
    process: move it out of the collector's sight, or each full collection walks it all and
    stalls every request in flight for 100+ ms. Then collect the young generation every 50,000
    allocations instead of 700: a request allocates thousands of objects, and collecting several
    times per request cost ~90 µs of its ~450 (bench: ``python -m bench``; docs/benchmarks.md)."""
    with warnings.catch_warnings():  # what the host process left unclosed is its business, not start-up's
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    # The span exporter's thread encodes batches of hundreds of spans; at the default 5 ms switch
    # interval a request waiting for the GIL behind it waited up to 5 ms a time (c=1 p99 14 ms).
    sys.setswitchinterval(0.0005)


def _base_url(registry: Registry, provider_id: str) -> str | None:
    spec = registry.snapshot.catalog.provider(provider_id) if registry.loaded else None
    return spec.base_url if spec is not None else None


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` and for every worker of ``grove-gateway serve``."""
    settings = Settings.from_env()
    if settings.access_log:
        accesslog.install_stdout_handler()
    claim = cpupin.claim_cpu(os.getppid()) if os.environ.get(cpupin.ENV) == "1" else None
    app = create_app(settings)
    app.state.cpu_claim = claim  # held for the process's life: the CPU stays this worker's
    return app
