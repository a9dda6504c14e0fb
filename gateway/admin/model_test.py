"""``POST /admin/models/test``: one request to a model that is not registered yet (the console's
add-model wizard tests a model before it is activated).

The spec is validated as ``POST /admin/models`` validates it (the entry, then the catalog with it
put in), and its deployment is built as a snapshot builds every deployment, from that catalog: the
provider (base URL, API key from the environment) is the configured one the spec names, never
taken from the request. Then ONE non-stream request goes through the provider's translator and
the shared upstream pool, with no fallback and no retry. Nothing is registered, and breakers,
routing statistics, usage and performance figures are left alone. An upstream failure is an
answer (``ok: false`` with the error), not an error of the call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.admin import docs_console as docs
from gateway.admin.common import Guard, entry, parse, read_object, respond
from gateway.catalog import Catalog, ConfigError, ModelSpec
from gateway.cost import CostBook
from gateway.errors import UpstreamError
from gateway.livecatalog import invalid
from gateway.openapi import ApiRoute
from gateway.overlay import Overlay, apply
from gateway.pipeline import send_once
from gateway.providers import litellm_bridge
from gateway.redact import Redactor
from gateway.registry import LITELLM_KINDS, Deployment, Registry, Snapshot
from gateway.upstream import UpstreamPool
from gateway.wire import parse_chat_request

DEFAULT_MESSAGES = [{"role": "user", "content": "Reply with one short sentence: are you there?"}]
MAX_WAIT_S = 30.0  # a wizard's operator is waiting: bound the test below the provider's own timeout


def routes(guard: Guard, tester: ModelTester) -> list[ApiRoute]:
    # Before the models admin's '/admin/models/{model_id:path}' routes: a model id may contain '/'.
    return [ApiRoute("/admin/models/test", guard(tester.test), methods={"POST": docs.MODEL_TEST})]


class ModelTester:
    def __init__(self, registry: Registry, pool: UpstreamPool, costs: CostBook, secrets: Sequence[str] = ()) -> None:
        self.registry = registry
        self.pool = pool
        self.costs = costs
        self.secrets = tuple(secrets)  # besides the providers' keys: masked in upstream error messages

    async def test(self, request: Request) -> Response:
        body = parse(docs.ModelTestBody, await read_object(request))
        spec: ModelSpec = entry("models", body.model)
        sample = {"model": spec.upstream_model, "messages": body.messages or DEFAULT_MESSAGES,
                  "max_tokens": body.max_tokens}
        chat = parse_chat_request(jsonio.dumps(sample))  # the messages, checked as /v1 checks them
        snapshot = await asyncio.to_thread(_snapshot_with, self.registry.snapshot.catalog, spec, self.registry.env)
        deployment = snapshot.deployments[(spec.id, spec.version)]
        if deployment.provider_kind in LITELLM_KINDS:
            await self._bridge()
        redact = Redactor([*snapshot.secrets, *self.secrets])
        started = time.perf_counter()
        try:
            answer = await self._send(deployment, chat)
        except UpstreamError as exc:
            return respond({"object": "model.test", "ok": False, "latency_ms": _ms(started), "error": {
                "message": redact(exc.message), "type": exc.type, "code": exc.code and redact(exc.code),
                "status": exc.status}})
        return respond({"object": "model.test", "ok": True, "latency_ms": _ms(started), **answer})

    async def _send(self, deployment: Deployment, chat: Any) -> dict[str, Any]:
        translator = deployment.provider.translator(chat, deployment.model.upstream_model)
        completion = await send_once(self.pool, deployment, translator, MAX_WAIT_S)
        reply = jsonio.loads(completion.body)
        choices = reply.get("choices") or [{}]
        message = choices[0].get("message") or {}
        usage = completion.usage
        return {
            "content": message.get("content"), "finish_reason": choices[0].get("finish_reason"),
            "model": completion.response_model,
            "usage": None if usage is None else {
                "prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens},
            "cost_usd": self.costs.cost(deployment.model, deployment.provider_kind, usage),
        }

    async def _bridge(self) -> None:
        """litellm's translation, for Anthropic and Gemini: imported in a thread if nothing
        configured needed it yet (the first test of such a model waits several seconds)."""
        if self.registry.bridge_loading is not None:
            await asyncio.shield(self.registry.bridge_loading)
        if not litellm_bridge.loaded():
            await asyncio.to_thread(litellm_bridge.load)


def _snapshot_with(catalog: Catalog, spec: ModelSpec, env: Any) -> Snapshot:
    """The live catalog with ``spec`` put in (added, or replacing its namesake version), validated
    as a runtime change is, and built as the registry builds it; raises the 400 of POST
    /admin/models, listing every problem."""
    try:
        return Snapshot(apply(catalog, Overlay(models=(spec,))), env)
    except ConfigError as exc:
        raise invalid(exc) from None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
