"""``POST /v1/messages/count_tokens``: how many input tokens a Messages request would take.

The model is authenticated, checked against the key's allowed models and routed like a Messages
request. The first deployment of the chain answers: an Anthropic one with its own
``/v1/messages/count_tokens`` (the client's body through, the model name swapped when needed,
``anthropic-version`` and ``anthropic-beta`` forwarded); any other with the gateway's own
estimate (``routing.tokens``, the one routing and token limits use; no tokenizer is loaded for
it). An Anthropic upstream that fails passes the question on down the chain. Counting is free
at Anthropic and is not counted against a key's limits here. Errors are Anthropic's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.auth import check_allowed
from gateway.endpoints import Endpoint, anthropic_shape, servable
from gateway.endpoints.messages_docs import COUNT_TOKENS
from gateway.endpoints.messages_wire import parse_count_tokens_request
from gateway.errors import GatewayError, PayloadTooLarge, UpstreamBadResponse, UpstreamError, UpstreamUnavailable
from gateway.ids import IdSource
from gateway.openapi import ApiRoute
from gateway.providers.anthropic import AnthropicProvider, anthropic_reply_error
from gateway.providers.base import ChatRequest, UpstreamRequest
from gateway.providers.messages_passthrough import upstream_body, upstream_headers
from gateway.routing import COMPONENT_HEADER, extract_features

if TYPE_CHECKING:
    from gateway.pipeline import Pipeline
    from gateway.registry import Deployment, Registry

PATH = "/v1/messages/count_tokens"
JSON = "application/json"


class CountTokens:
    def __init__(self, registry: Registry, pipeline: Pipeline, endpoint: Endpoint, max_body_bytes: int) -> None:
        """``endpoint``: the Messages endpoint, whose refusals say which deployments can answer."""
        self.registry = registry
        self.pipeline = pipeline
        self.endpoint = endpoint
        self.max_body_bytes = max_body_bytes
        self._ids = IdSource()

    def route(self) -> ApiRoute:
        return ApiRoute(PATH, self.handle, methods={"POST": COUNT_TOKENS})

    async def handle(self, request: Request) -> Response:
        headers = {"x-grove-request-id": self._ids.hex()}
        try:
            snapshot = self.registry.snapshot
            key = snapshot.auth.authenticate(request.headers)
            req = parse_count_tokens_request(await self._body(request))
            check_allowed(key, req.model)
            features = extract_features(req.body, request.headers)
            decision = snapshot.router.decide(req.model, features, component=request.headers.get(COMPONENT_HEADER),
                                              key=key, sticky_id=headers["x-grove-request-id"],
                                              health=self.pipeline.health())
            headers["x-grove-route"] = decision.route or req.model
            chain = servable(self.endpoint, snapshot.chain(decision.chain), req)
            count = await self._count(req, chain, features.input_tokens, request, headers)
            return Response(jsonio.dumps({"input_tokens": count}), media_type=JSON, headers=headers)
        except GatewayError as exc:
            return anthropic_shape.error_response(exc, headers)

    async def _count(self, req: ChatRequest, chain: tuple[Deployment, ...], estimate: int, request: Request,
                     headers: dict[str, str]) -> int:
        failure: UpstreamError | None = None
        for deployment in chain:
            provider = deployment.provider
            count = estimate
            if isinstance(provider, AnthropicProvider):
                try:
                    count = await self._upstream(provider, deployment, req, request)
                except UpstreamError as exc:
                    exc.message = self.pipeline.redact(exc.message)
                    if not exc.retryable:
                        raise
                    failure = exc
                    continue
            headers["x-grove-model"] = deployment.key
            return count
        raise failure or UpstreamUnavailable("No deployment could count the tokens.")

    async def _upstream(self, provider: AnthropicProvider, deployment: Deployment, req: ChatRequest,
                        request: Request) -> int:
        upstream = UpstreamRequest(provider.url + "/count_tokens", upstream_headers(provider.headers, request.headers),
                                   upstream_body(req, deployment.model.upstream_model))
        async with self.pipeline.pool.send(upstream, deployment.timeouts, deployment.provider_id) as resp:
            data = await resp.read()
            if resp.status >= 400:
                raise anthropic_reply_error(resp.status, data, resp.headers)
        try:
            parsed = jsonio.loads(data)
        except jsonio.JSONDecodeError:
            parsed = None
        count = parsed.get("input_tokens") if isinstance(parsed, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise UpstreamBadResponse("malformed reply from anthropic: no input_tokens")
        return count

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        too_large = PayloadTooLarge(f"The request body exceeds the limit of {self.max_body_bytes} bytes.")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise too_large
        raw = await request.body()
        if len(raw) > self.max_body_bytes:
            raise too_large
        return raw


def count_tokens_route(registry: Registry, pipeline: Pipeline, endpoint: Endpoint,
                       max_body_bytes: int) -> ApiRoute:
    return CountTokens(registry, pipeline, endpoint, max_body_bytes).route()

