"""``/v1/responses``: OpenAI's Responses API as a front door, and its stored responses.

``POST`` parses and checks the request (``responses_wire``), expands ``previous_response_id``
from the store into the whole conversation (so any replica, and any provider in the chain,
can continue it), and hands each attempt a translator: bytes through to an OpenAI-compatible
upstream that serves the Responses API (``providers.responses_native``), through the
deployment's chat translator otherwise (``responses_chat``). A finished response is stored in
the background unless ``store`` is false. ``GET``/``DELETE /v1/responses/{id}`` and ``GET
.../input_items`` answer only the client key that created the response (404 for any other).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.endpoints import JSON, StreamFormat, openai_error_response, wrong_mode
from gateway.endpoints import responses_docs as docs
from gateway.endpoints.response_store import ResponseStore, StoredResponse, with_ids
from gateway.endpoints.responses_chat import ResponsesViaChat, chat_body, inner_request
from gateway.endpoints.responses_wire import chat_view, input_items, validate
from gateway.errors import GatewayError, InvalidRequest, NotFound, ServiceUnavailable
from gateway.openapi import ApiRoute
from gateway.providers import litellm_bridge as lb
from gateway.providers.base import ChatRequest, Translator
from gateway.providers.openai_compat import OpenAICompatProvider
from gateway.providers.responses_native import NativeResponsesTranslator
from gateway.store import StoreUnavailable
from gateway.wire import read_object

if TYPE_CHECKING:
    from gateway.catalog import KeySpec
    from gateway.registry import Deployment, Registry

PATH = "/v1/responses"
log = logging.getLogger("grove.responses")


@dataclass(frozen=True, slots=True)
class ResponsesRequest(ChatRequest):
    """A Responses request: ``source`` is the client's JSON, ``body`` its chat view."""

    items: list[dict[str, Any]] = field(default_factory=list)
    """This turn's input items."""
    context: list[dict[str, Any]] | None = None
    """The conversation before them, when ``previous_response_id`` was given."""
    owner: str | None = None
    """The client key's name: the owner of what this request stores."""


def _identity(payload: bytes) -> bytes:
    return payload  # translators hand over whole ``event: ...`` frames


def error_event(exc: GatewayError) -> bytes:
    """The Responses ``error`` event; its ``error`` object is what the openai SDK raises on."""
    err = exc.to_dict()["error"]
    assert isinstance(err, dict)
    payload = {"type": "error", "code": err["code"] or err["type"], "message": err["message"],
               "param": err["param"], "error": err}
    return b"event: error\ndata: " + jsonio.dumps(payload) + b"\n\n"


def native(deployment: Deployment) -> bool:
    provider = deployment.provider
    return isinstance(provider, OpenAICompatProvider) and provider.responses_url is not None


class ResponsesEndpoint:
    name = "responses"
    path = PATH
    operation = "chat"
    sse = StreamFormat(_identity, b"", error_event)
    doc = docs.CREATE

    def __init__(self, responses: ResponseStore, registry: Registry) -> None:
        self.responses = responses
        self.registry = registry
        self._loading: asyncio.Task[Any] | None = None

    async def parse(self, raw: bytes, headers: Mapping[str, str], key: KeySpec | None) -> ChatRequest:
        body = read_object(raw)  # not JSON, too deep, not an object, a key twice: the 400 that says so
        parsed = validate(body)
        items = input_items(body["input"])
        context: list[dict[str, Any]] | None = None
        owner = key.name if key is not None else None
        if parsed.previous_response_id is not None:
            previous = await self._stored(parsed.previous_response_id, param="previous_response_id")
            if previous.owner != owner:  # a response stored by another key is not there for this one
                raise _not_found(parsed.previous_response_id, "previous_response_id")
            context = previous.conversation()
        await self._bridge()
        view = chat_view(body, parsed, items if context is None else [*context, *items])
        return ResponsesRequest(body=view, raw=raw, model=parsed.model, stream=bool(parsed.stream),
                                include_usage=False, endpoint=self.name, source=body, items=items,
                                context=context, owner=owner)

    def refusal(self, deployment: Deployment, request: ChatRequest) -> GatewayError | None:
        return wrong_mode(deployment, PATH) if deployment.model.mode != "chat" else None

    def translator(self, deployment: Deployment, request: ChatRequest) -> Translator:
        assert isinstance(request, ResponsesRequest) and request.source is not None
        conversation = None if request.context is None else [*request.context, *request.items]
        upstream_model = deployment.model.upstream_model
        if native(deployment):
            assert isinstance(deployment.provider, OpenAICompatProvider)
            return NativeResponsesTranslator(deployment.provider, request, upstream_model, conversation)
        body = chat_body(request.source, conversation or request.items, upstream_model, request.stream)
        inner = deployment.provider.translator(inner_request(request, body), upstream_model)
        return ResponsesViaChat(inner, request.source, upstream_model)

    def error_response(self, exc: GatewayError, headers: Mapping[str, str]) -> Response:
        return openai_error_response(exc, headers)

    def finished(self, request: ChatRequest, translator: Translator) -> Awaitable[None] | None:
        assert isinstance(request, ResponsesRequest) and request.source is not None
        if request.source.get("store") is False:
            return None
        final = translator.final if isinstance(translator, (NativeResponsesTranslator, ResponsesViaChat)) else None
        if final is None or not isinstance(final.get("id"), str):
            return None
        return self.responses.save_later(StoredResponse(request.owner, final, with_ids(request.items),
                                                        request.context or []))

    # --- litellm, for the chat translation -------------------------------------------------------

    async def _bridge(self) -> None:
        """litellm must be loaded before a translated attempt (its translation runs on the loop);
        load it in a thread, once, if some chat model of the catalog is not served natively."""
        if lb.loaded():
            return
        if not any(not native(d) for d in self.registry.snapshot.deployments.values() if d.model.mode == "chat"):
            return
        task = self.registry.bridge_loading or self._loading
        if task is None:
            task = self._loading = asyncio.get_running_loop().create_task(asyncio.to_thread(lb.responses_config))
        try:
            await asyncio.shield(task)
        except Exception as exc:  # the next request tries again
            if task is self._loading:
                self._loading = None
                log.error("loading litellm failed: %r", exc)
            raise ServiceUnavailable("The gateway could not load its chat translation; try again.") from None

    # --- stored responses ------------------------------------------------------------------------

    async def _stored(self, response_id: str, param: str | None = None) -> StoredResponse:
        try:
            stored = await self.responses.get(response_id)
        except StoreUnavailable:
            raise ServiceUnavailable("Stored responses cannot be read right now; try again.") from None
        if stored is None:
            raise _not_found(response_id, param)
        return stored

    async def _owned(self, request: Request) -> StoredResponse:
        key = self.registry.snapshot.auth.authenticate(request.headers)
        response_id = request.path_params["response_id"]
        stored = await self._stored(response_id)
        if stored.owner != (key.name if key is not None else None):
            raise _not_found(response_id, None)
        return stored

    async def get(self, request: Request) -> Response:
        try:
            stored = await self._owned(request)
        except GatewayError as exc:
            return openai_error_response(exc)
        return Response(jsonio.dumps(stored.response), media_type=JSON)

    async def delete(self, request: Request) -> Response:
        try:
            stored = await self._owned(request)
            await self.responses.delete(stored.response["id"])
        except StoreUnavailable:
            return openai_error_response(ServiceUnavailable("Stored responses cannot be changed right now."))
        except GatewayError as exc:
            return openai_error_response(exc)
        return Response(jsonio.dumps({"id": stored.response["id"], "object": "response.deleted", "deleted": True}),
                        media_type=JSON)

    async def input_items(self, request: Request) -> Response:
        try:
            stored = await self._owned(request)
            limit, order, after = _page(request.query_params)
        except GatewayError as exc:
            return openai_error_response(exc)
        items = stored.input if order == "asc" else stored.input[::-1]
        if after is not None:
            ids = [item.get("id") for item in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        page = items[:limit]
        body = {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit}
        return Response(jsonio.dumps(body), media_type=JSON)

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(PATH + "/{response_id}", self.get_or_delete, methods={"GET": docs.GET, "DELETE": docs.DELETE}),
            ApiRoute(PATH + "/{response_id}/input_items", self.input_items, methods={"GET": docs.INPUT_ITEMS}),
        ]

    async def get_or_delete(self, request: Request) -> Response:
        return await (self.delete(request) if request.method == "DELETE" else self.get(request))


def _not_found(response_id: str, param: str | None) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", param=param)


def _page(query: Mapping[str, str]) -> tuple[int, str, str | None]:
    raw = query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise InvalidRequest(f"Invalid value for 'limit': expected an integer from 1 to 100, got '{raw}'.",
                             param="limit", code="invalid_value")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid value for 'order': expected 'asc' or 'desc', got '{order}'.",
                             param="order", code="invalid_value")
    return int(raw), order, query.get("after")
