"""A fake Anthropic server speaking the real Messages API wire format, on loopback.

``POST /v1/messages``: ``x-api-key`` auth, a required ``anthropic-version`` header
and ``max_tokens``; a message object, or an SSE stream of named events
(message_start, content_block_start, ping, content_block_delta, content_block_stop,
message_delta, message_stop). Errors are ``{"type": "error", "error": {"type",
"message"}, "request_id"}`` with a ``request-id`` header; an error after the stream
has begun is an ``event: error``. Replies come from ``replies.py``; extended thinking (signed
thinking blocks, and the check of those sent back) from ``anthropic_thinking.py``.
``POST /v1/messages/count_tokens`` answers ``{"input_tokens": N}`` under the same auth and knobs.
The headers of every request (``anthropic-version``, ``anthropic-beta``) are in its records.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import jsonio
from gateway.fakes.exchange import (
    Exchange,
    FakeApp,
    Faults,
    Stream,
    decide_faults,
    read_json,
    retry_after_headers,
)
from gateway.fakes.anthropic_thinking import Signer, Thought
from gateway.fakes.knobs import FakeState, Knobs, control_routes
from gateway.fakes.replies import Prompt, Reply, make_reply, new_id

PROVIDER = "anthropic"
FAILURE_STATUS = 529

_STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_call": "tool_use", "stop_sequence": "stop_sequence"}
_MEDIA_BLOCKS = frozenset({"image", "document"})
# status -> (error type, stock message)
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit. Please try again later."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_MALFORMED = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {\n\n'


def create_anthropic_app(state: FakeState | None = None) -> Starlette:
    """The fake's app; its state is ``app.state.fake`` (the one given, or a new one)."""
    state = state if state is not None else FakeState()
    fake = _AnthropicFake(state)
    app = FakeApp(routes=[Route("/v1/messages", fake.messages, methods=["POST"]),
                          Route("/v1/messages/count_tokens", fake.count_tokens, methods=["POST"]),
                          *control_routes(state)])
    app.state.fake = state
    return app


class _AnthropicFake:
    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.signer = Signer()

    async def count_tokens(self, request: Request) -> Response:
        """``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``, as the reply would count it."""
        body, ok = await read_json(request, self.state)
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) and model else None
        knobs = self.state.knobs_for(model)
        denied = self._auth(request, knobs)
        if denied is not None:
            return denied
        if not request.headers.get("anthropic-version"):
            return self._error(knobs, 400, "invalid_request_error", "anthropic-version: header is required")
        if not ok or not isinstance(body, dict) or model is None:
            return self._error(knobs, 400, "invalid_request_error", "model: Field required")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self._error(knobs, 400, "invalid_request_error", "messages: Field required")
        faults = decide_faults(self.state, model, knobs, stream=False, failure_status=FAILURE_STATUS)
        if faults.hang:
            return Exchange(self.state, knobs, hang=True)
        if faults.status is not None:
            kind, message = _error_parts(faults.status, model)
            return self._error(knobs, faults.status, kind, knobs.error_message or message)
        count = _prompt(body, model, None).input_tokens
        return Exchange(self.state, knobs, headers=_headers("application/json"),
                        body=jsonio.dumps({"input_tokens": count}))

    async def messages(self, request: Request) -> Response:
        body, ok = await read_json(request, self.state)
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) and model else None
        knobs = self.state.knobs_for(model)
        denied = self._auth(request, knobs)
        if denied is not None:
            return denied
        if not request.headers.get("anthropic-version"):
            return self._error(knobs, 400, "invalid_request_error", "anthropic-version: header is required")
        if not ok or not isinstance(body, dict):
            return self._error(
                knobs, 400, "invalid_request_error", "There was an issue with your request body: invalid JSON"
            )
        for field in ("model", "messages", "max_tokens"):
            if field not in body:
                return self._error(knobs, 400, "invalid_request_error", f"{field}: Field required")
        max_tokens = body["max_tokens"]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return self._error(knobs, 400, "invalid_request_error", "max_tokens: Input should be a valid integer >= 1")
        if model is None or not isinstance(body["messages"], list) or not body["messages"]:
            field = "model" if model is None else "messages"
            return self._error(knobs, 400, "invalid_request_error", f"{field}: Input should be a non-empty value")
        problem = self.signer.problem(body)
        if problem is not None:
            return self._error(knobs, 400, "invalid_request_error", problem)
        stream = body.get("stream") is True
        faults = decide_faults(self.state, model, knobs, stream=stream, failure_status=FAILURE_STATUS)
        if faults.hang:
            return Exchange(self.state, knobs, hang=True)
        if faults.status is not None:
            kind, message = _error_parts(faults.status, model)
            return self._error(knobs, faults.status, kind, knobs.error_message or message)
        prompt = _prompt(body, model, max_tokens)
        if knobs.context_window is not None and prompt.input_tokens > knobs.context_window:
            return self._error(
                knobs,
                400,
                "invalid_request_error",
                f"prompt is too long: {prompt.input_tokens} tokens > {knobs.context_window} maximum",
            )
        reply = make_reply(prompt, knobs)
        thought = self.signer.thought(body, prompt.last_user_text)
        if stream:
            return self._stream(knobs, faults, reply, model, thought)
        steps = len(reply.argument_pieces if reply.tool_name else reply.pieces) + 6
        return Exchange(
            self.state,
            knobs,
            headers=_headers("application/json"),
            body=jsonio.dumps(_message(reply, model, thought)),
            faults=faults.active,
            steps=steps,
        )

    def _stream(self, knobs: Knobs, faults: Faults, reply: Reply, model: str, thought: Thought) -> Exchange:
        status = knobs.status if knobs.status is not None else FAILURE_STATUS
        kind, message = _error_parts(status, model)
        error = {"type": "error", "error": {"type": kind, "message": knobs.error_message or message}}
        plan = Stream(
            events=_events(reply, model, thought),
            terminal=1,
            malformed=_MALFORMED,
            error_event=_sse("error", error),
        )
        headers = [*_headers("text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
        return Exchange(self.state, knobs, headers=headers, stream=plan, faults=faults.active)

    def _auth(self, request: Request, knobs: Knobs) -> Exchange | None:
        if knobs.api_key is None:
            return None
        key = request.headers.get("x-api-key")
        if not key:
            return self._error(knobs, 401, "authentication_error", "x-api-key header is required")
        if key != knobs.api_key:
            return self._error(knobs, 401, "authentication_error", f"invalid x-api-key: {key}")
        return None

    def _error(self, knobs: Knobs, status: int, kind: str, message: str) -> Exchange:
        request_id = new_id("req_", 12)
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
        headers = [("content-type", "application/json"), ("request-id", request_id), *retry_after_headers(knobs)]
        return Exchange(self.state, knobs, status=status, headers=headers, body=jsonio.dumps(body))


# --- the request ----------------------------------------------------------------


def _prompt(body: dict[str, Any], model: str, max_tokens: int | None) -> Prompt:
    system_text, _ = _blocks(body.get("system"))
    chars, images = len(system_text), 0
    last_user = ""
    messages = body["messages"]
    for message in messages:
        if not isinstance(message, dict):
            continue
        text, media = _blocks(message.get("content"))
        chars += len(text)
        images += media
        if message.get("role") == "user" and not _tool_results(message):
            last_user = text
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    results = _tool_results(last) if last.get("role") == "user" else []
    tool_result = " ".join(results) if results else None
    stops = body.get("stop_sequences")
    return Prompt(
        provider=PROVIDER,
        model=model,
        last_user_text=last_user,
        tool_result=tool_result,
        chars=chars,
        images=images,
        tool_name=None if tool_result is not None else _tool_to_call(body),
        max_tokens=max_tokens,
        stop=tuple(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else (),
    )


def _blocks(content: object) -> tuple[str, int]:
    """All text of a content (string or blocks, tool calls and results included) and its media count."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    texts: list[str] = []
    media = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind in _MEDIA_BLOCKS:
            media += 1
        elif kind == "tool_use":
            texts.append(str(block.get("name", "")) + jsonio.dumps(block.get("input", {})).decode())
        elif kind == "tool_result":
            text, inner = _blocks(block.get("content"))
            texts.append(text)
            media += inner
    return " ".join(texts), media


def _tool_results(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [
        _blocks(block.get("content"))[0]
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def _tool_to_call(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    names = [
        t["name"]
        for t in (tools if isinstance(tools, list) else ())
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]
    choice = body.get("tool_choice")
    choice = choice if isinstance(choice, dict) else {}
    if not names or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    return names[0]


# --- the answer -----------------------------------------------------------------


def _message(reply: Reply, model: str, thought: Thought) -> dict[str, Any]:
    content: list[dict[str, Any]] = [dict(block) for block in thought.blocks]
    if reply.tool_name:
        arguments = jsonio.loads(reply.tool_arguments)
        content.append({"type": "tool_use", "id": new_id("toolu_"), "name": reply.tool_name, "input": arguments})
    else:
        content.append({"type": "text", "text": reply.text})
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _STOP_REASON[reply.finish],
        "stop_sequence": reply.stop_sequence,
        "usage": _usage(reply.input_tokens, reply.output_tokens + thought.output_tokens),
    }


def _events(reply: Reply, model: str, thought: Thought) -> list[bytes]:
    start = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(reply.input_tokens, 1),
    }
    if reply.tool_name:
        block: dict[str, Any] = {"type": "tool_use", "id": new_id("toolu_"), "name": reply.tool_name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in reply.argument_pieces]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in reply.pieces]
    index = len(thought.blocks)
    events = [_sse("message_start", {"type": "message_start", "message": start})]
    events += [_sse(event, data) for event, data in thought.events(0)]
    events += [
        _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}),
        _sse("ping", {"type": "ping"}),
    ]
    events += [
        _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        for delta in deltas
    ]
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": index}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP_REASON[reply.finish], "stop_sequence": reply.stop_sequence},
                "usage": {"output_tokens": reply.output_tokens + thought.output_tokens},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _error_parts(status: int, model: str) -> tuple[str, str]:
    default = ("invalid_request_error", "Invalid request.") if status < 500 else ("api_error", "Internal server error")
    kind, message = _ERRORS.get(status, default)
    return kind, message.replace("{model}", model)


def _headers(content_type: str) -> list[tuple[str, str]]:
    return [("content-type", content_type), ("request-id", new_id("req_", 12))]


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + jsonio.dumps(data) + b"\n\n"
