"""The HTTP surface of the models: every endpoint of ``gateway.endpoints``, models, health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Scope

from gateway import api_docs as docs
from gateway import hangup, jsonio, streaming
from gateway.auth import check_allowed
from gateway.cost import format_usd
from gateway.endpoints import LARGE_BODY, Endpoint, openai_error_response, servable
from gateway.endpoints.chat import CHAT
from gateway.errors import GatewayError, LimitExceeded, PayloadTooLarge
from gateway.decisions import DecisionLog, DecisionRecord
from gateway.ids import IdSource
from gateway.limits import Limiter
from gateway.openapi import ApiRoute
from gateway.pipeline import Outcome, Pipeline
from gateway.registry import LITELLM_KINDS, Registry
from gateway.routing import COMPONENT_HEADER, extract_features, without_hint
from gateway.store import StoreUnavailable
from gateway.telemetry.middleware import request_telemetry

JSON = "application/json"
CHAT_PATH = CHAT.path


def error_response(exc: GatewayError, headers: Mapping[str, str] | None = None) -> Response:
    return openai_error_response(exc, headers)


class ModelAPI:
    """The model endpoints (``gateway.endpoints``), each through the same parse → auth → route →
    limits → attempts → telemetry path; ``/v1/models``."""

    def __init__(self, registry: Registry, pipeline: Pipeline, decisions: DecisionLog, max_body_bytes: int,
                 limiter: Limiter, endpoints: Sequence[Endpoint] = (CHAT,)) -> None:
        self.registry = registry
        self.pipeline = pipeline
        self.decisions = decisions
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        self.endpoints = tuple(endpoints)
        self._ids = IdSource()
        self.handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {
            endpoint.path: partial(self.serve, endpoint) for endpoint in self.endpoints}
        """The POST handler of each endpoint's path."""

    def routes(self) -> list[ApiRoute]:
        return [
            *(ApiRoute(endpoint.path, self.handlers[endpoint.path], methods={"POST": endpoint.doc})
              for endpoint in self.endpoints),
            ApiRoute("/v1/models", self.list_models, methods={"GET": docs.LIST_MODELS}),
            ApiRoute("/v1/models/{model_id:path}", self.get_model, methods={"GET": docs.GET_MODEL}),
        ]

    async def serve(self, endpoint: Endpoint, request: Request) -> Response:
        request_id = self._ids.hex()
        headers = {"x-grove-request-id": request_id}
        rt = request_telemetry(request.scope)
        rt.chat_request(request_id, endpoint.name, endpoint.operation)
        try:
            snapshot = self.registry.snapshot
            request_headers = _headers(request.scope)
            key = snapshot.auth.authenticate(request_headers)
            req = await endpoint.parse(await self._read_body(request, request_headers), request_headers, key)
            rt.parsed(req, key.name if key is not None else None)
            check_allowed(key, req.model)
            if len(req.raw) < LARGE_BODY:
                features = extract_features(req.body, request_headers)
            else:  # one pass over every message: off the loop, as the parse was
                features = await asyncio.to_thread(extract_features, req.body, request_headers)
            decision = snapshot.router.decide(
                req.model, features, component=request_headers.get(COMPONENT_HEADER), key=key,
                sticky_id=request_id, health=self.pipeline.health(),
            )
            chain = servable(endpoint, snapshot.chain(decision.chain), req)
            stripped = without_hint(req.body) if endpoint is CHAT else None
            if stripped is not None:  # the routing hint is the gateway's, not the upstream's
                req = replace(req, body=stripped, raw=jsonio.dumps(stripped))
        except GatewayError as exc:
            return endpoint.error_response(exc, headers)
        out = Outcome()
        rt.routed(decision, out)
        headers["x-grove-decision-id"] = request_id
        headers["x-grove-route"] = decision.route or req.model
        if decision.variant:
            headers["x-grove-variant"] = decision.variant
        if decision.deprecation:
            headers["x-grove-deprecation"] = decision.deprecation
        # Logged once the outcome is final: at the end of the request, or of its stream.
        record = DecisionRecord(request_id, time.time(), decision, out, key.name if key is not None else None)
        ticket = None
        try:
            ticket = await self.limiter.admit(key, request_id, features)  # None: no limits, no store call
            if self.registry.bridge_loading is not None and any(d.provider_kind in LITELLM_KINDS for d in chain):
                await asyncio.shield(self.registry.bridge_loading)  # only in the gateway's first seconds
            if req.stream:
                # A stream's cost is known only at its end: it goes to the span, the access log
                # and the usage sums, not into a header.
                def closed() -> None:
                    self.decisions.record(record)
                    if ticket is not None:
                        self.limiter.settle_later(ticket, rt.usage, rt.cost_usd, served=True)
                    if out.translator is not None and out.complete:
                        endpoint.finished(req, out.translator)
                    out.translator = None  # it holds the request: the decision log keeps the outcome

                with hangup.watch(request.scope, request.receive):  # until the first chunk: then SSEResponse's
                    stream = await self.pipeline.stream(req, chain, out, on_close=closed, observer=rt,
                                                        endpoint=endpoint, input_tokens=features.input_tokens)
                _outcome_headers(headers, out)
                return streaming.SSEResponse(stream.body, {**headers, **streaming.HEADERS})
            with hangup.watch(request.scope, request.receive):  # a departed client's attempt is cancelled
                completion = await self.pipeline.complete(req, chain, out, observer=rt, endpoint=endpoint)
            _outcome_headers(headers, out)
            if rt.cost_usd is not None:
                headers["x-grove-cost-usd"] = format_usd(rt.cost_usd)
            self.decisions.record(record)
            if ticket is not None:  # its tokens and cost count before the client can send the next
                await self.limiter.settle(ticket, rt.usage, rt.cost_usd, served=True)
            if out.translator is not None:
                kept = endpoint.finished(req, out.translator)
                out.translator = None  # it holds the request: the decision log keeps the outcome
                if kept is not None:  # what a client is answered it can read back at once, on any replica
                    await kept
            return Response(completion.body, media_type=JSON, headers=headers)
        except GatewayError as exc:
            out.status = exc.status
            if isinstance(exc, LimitExceeded):
                record.limit = exc.limit
            _outcome_headers(headers, out)
            self.decisions.record(record)
            if ticket is not None:
                await self.limiter.settle(ticket, rt.usage, rt.cost_usd, served=out.served_by is not None)
            return endpoint.error_response(exc, headers)

    async def list_models(self, request: Request) -> Response:
        try:
            snapshot = self.registry.snapshot
            snapshot.auth.authenticate(request.headers)
            return Response(snapshot.models_body, media_type=JSON)
        except GatewayError as exc:
            return error_response(exc)

    async def get_model(self, request: Request) -> Response:
        try:
            snapshot = self.registry.snapshot
            snapshot.auth.authenticate(request.headers)
            return Response(snapshot.model_entry(request.path_params["model_id"]), media_type=JSON)
        except GatewayError as exc:
            return error_response(exc)

    async def _read_body(self, request: Request, headers: Mapping[str, str]) -> bytes:
        limit = self.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        receive = request.receive  # Starlette's ``request.stream()`` without its async generator
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: the client is gone
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first of a repeated one: Starlette's
    ``request.headers`` answers the same, but scans the list per lookup and raises and catches a
    KeyError for each header that is not there (most of the chat route's lookups)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])}


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")


def _outcome_headers(headers: dict[str, str], out: Outcome) -> None:
    headers["x-grove-attempts"] = str(len(out.attempts))
    if out.served_by is not None:
        headers["x-grove-model"] = out.served_by.key


def health_routes(registry: Registry) -> list[ApiRoute]:
    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def readyz(request: Request) -> Response:
        store_ok = await registry.store.ping()
        try:
            published = await registry.published_version() if store_ok else None
        except StoreUnavailable:
            published = None
        ready = registry.ready and store_ok
        body = {
            "status": "ready" if ready else "not_ready",
            "registry_loaded": registry.loaded,
            "registry_version": registry.snapshot.version if registry.loaded else None,
            "litellm_loading": registry.bridge_loading is not None,
            "store": registry.store.backend,
            "store_reachable": store_ok,
            "published_version": published,
        }
        return Response(jsonio.dumps(body), status_code=200 if ready else 503, media_type=JSON)

    return [ApiRoute("/healthz", healthz, methods={"GET": docs.HEALTHZ}),
            ApiRoute("/readyz", readyz, methods={"GET": docs.READYZ})]
