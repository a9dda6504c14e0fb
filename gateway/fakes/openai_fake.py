"""A fake OpenAI server speaking the real Chat Completions wire format, on loopback.

``POST /v1/chat/completions`` (JSON or SSE, with ``stream_options.include_usage``),
``POST /v1/embeddings`` and ``POST /v1/completions`` (``openai_extra.py``),
``GET /v1/models`` and ``GET /v1/models/{model}``; ``Authorization: Bearer`` keys;
errors as ``{"error": {"message", "type", "param", "code"}}``; in-stream errors as a
``data:`` event holding ``{"error": ...}``, which is what the official SDK looks for.
Replies come from ``replies.py``; timing and faults from the state's knobs.
"""

from __future__ import annotations

import time
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
from gateway.fakes.knobs import FakeState, Knobs, control_routes
from gateway.fakes.openai_responses import responses_route
from gateway.fakes.replies import Prompt, Reply, make_reply, new_id

PROVIDER = "openai"
DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini")
FAILURE_STATUS = 500
FINGERPRINT = "fp_f4ke0penai"

_FINISH = {"stop": "stop", "length": "length", "tool_call": "tool_calls", "stop_sequence": "stop"}
_MEDIA_PARTS = frozenset({"image_url", "input_image", "input_audio", "file"})
# status -> (type, code, stock message)
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 20s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
}
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_MALFORMED = b'data: {"id": "chatcmpl-broken", "object": "chat.completion.chunk", "choices": [{"delta": \n\n'
_DONE = b"data: [DONE]\n\n"


def create_openai_app(state: FakeState | None = None) -> Starlette:
    """The fake's app; its state is ``app.state.fake`` (the one given, or a new one)."""
    from gateway.fakes.openai_extra import extra_routes  # it builds on this module

    state = state if state is not None else FakeState()
    fake = _OpenAIFake(state)
    app = FakeApp(
        routes=[
            Route("/v1/chat/completions", fake.chat, methods=["POST"]),
            *extra_routes(fake),  # /v1/embeddings, /v1/completions
            Route("/v1/responses", responses_route(state, fake._error, fake._forced_error, fake._auth, _error_parts,
                                                   _headers), methods=["POST"]),
            Route("/v1/models", fake.list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", fake.get_model, methods=["GET"]),
            *control_routes(state),
        ]
    )
    app.state.fake = state
    return app


class _OpenAIFake:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def chat(self, request: Request) -> Response:
        body, ok = await read_json(request, self.state)
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) and model else None
        knobs = self.state.knobs_for(model)
        denied = self._auth(request, knobs)
        if denied is not None:
            return denied
        if not ok or not isinstance(body, dict):
            return self._error(knobs, 400, _BAD_JSON)
        if model is None:
            return self._error(knobs, 400, "you must provide a model parameter")
        messages = body.get("messages")
        if messages is None:
            return self._error(
                knobs,
                400,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            return self._error(
                knobs,
                400,
                "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                "but got an empty array instead.",
                param="messages",
                code="empty_array",
            )
        stream = body.get("stream") is True
        faults = decide_faults(self.state, model, knobs, stream=stream, failure_status=FAILURE_STATUS)
        if faults.hang:
            return Exchange(self.state, knobs, hang=True)
        if faults.status is not None:
            return self._forced_error(knobs, faults.status, model)
        prompt = _prompt(body, model)
        if knobs.context_window is not None and prompt.input_tokens > knobs.context_window:
            return self._error(
                knobs,
                400,
                f"This model's maximum context length is {knobs.context_window} tokens. However, your messages "
                f"resulted in {prompt.input_tokens} tokens. Please reduce the length of the messages.",
                param="messages",
                code="context_length_exceeded",
            )
        reply = make_reply(prompt, knobs)
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            return self._stream(knobs, faults, reply, model, include_usage)
        steps = len(reply.argument_pieces if reply.tool_name else reply.pieces) + 3
        return Exchange(
            self.state,
            knobs,
            headers=_headers("application/json"),
            body=jsonio.dumps(_completion(reply, model)),
            faults=faults.active,
            steps=steps,
        )

    async def list_models(self, request: Request) -> Response:
        await read_json(request, self.state)
        knobs = self.state.knobs_for(None)
        denied = self._auth(request, knobs)
        if denied is not None:
            return denied
        ids = dict.fromkeys([*DEFAULT_MODELS, *self.state.models()])
        data = {"object": "list", "data": [_model_object(m) for m in ids]}
        return Exchange(self.state, knobs, headers=_headers("application/json"), body=jsonio.dumps(data))

    async def get_model(self, request: Request) -> Response:
        await read_json(request, self.state)
        model = request.path_params["model"]
        knobs = self.state.knobs_for(model)
        denied = self._auth(request, knobs)
        if denied is not None:
            return denied
        body = jsonio.dumps(_model_object(model))
        return Exchange(self.state, knobs, headers=_headers("application/json"), body=body)

    def _stream(self, knobs: Knobs, faults: Faults, reply: Reply, model: str, include_usage: bool) -> Exchange:
        events = _chunks(reply, model, include_usage)
        status = knobs.status if knobs.status is not None else FAILURE_STATUS
        kind, code, message = _error_parts(status, model)
        error = {"message": knobs.error_message or message, "type": kind, "param": None, "code": code}
        plan = Stream(events=events, terminal=1, malformed=_MALFORMED, error_event=_sse({"error": error}))
        return Exchange(
            self.state,
            knobs,
            headers=_headers("text/event-stream; charset=utf-8"),
            stream=plan,
            faults=faults.active,
        )

    def _auth(self, request: Request, knobs: Knobs) -> Exchange | None:
        if knobs.api_key is None:
            return None
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return self._error(knobs, 401, _NO_KEY)
        if key != knobs.api_key:
            return self._error(
                knobs,
                401,
                f"Incorrect API key provided: {key}. "
                "You can find your API key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        return None

    def _forced_error(self, knobs: Knobs, status: int, model: str) -> Exchange:
        kind, code, message = _error_parts(status, model)
        return self._error(knobs, status, knobs.error_message or message, kind=kind, code=knobs.error_code or code,
                           param=knobs.error_param)

    def _error(
        self,
        knobs: Knobs,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> Exchange:
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        headers = _headers("application/json")
        if knobs.retry_after is not None:
            headers += [*retry_after_headers(knobs), ("retry-after-ms", str(round(knobs.retry_after * 1000)))]
        return Exchange(self.state, knobs, status=status, headers=headers, body=jsonio.dumps(body))


# --- the request ----------------------------------------------------------------


def _prompt(body: dict[str, Any], model: str) -> Prompt:
    messages = body["messages"]
    chars = images = 0
    last_user = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        text, media = _content(message.get("content"))
        chars += len(text)
        images += media
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                chars += len(str(function.get("name", ""))) + len(str(function.get("arguments", "")))
        if message.get("role") == "user":
            last_user = text
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    tool_result = _content(last.get("content"))[0] if last.get("role") in ("tool", "function") else None
    response_format = body.get("response_format")
    return Prompt(
        provider=PROVIDER,
        model=model,
        last_user_text=last_user,
        tool_result=tool_result,
        chars=chars,
        images=images,
        tool_name=None if tool_result is not None else _tool_to_call(body),
        json_mode=isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"),
        max_tokens=_int(body.get("max_completion_tokens")) or _int(body.get("max_tokens")),
        stop=_stops(body.get("stop")),
    )


def _content(content: object) -> tuple[str, int]:
    """The text of a message's content and how many media parts it holds."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    texts: list[str] = []
    media = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") in _MEDIA_PARTS:
            media += 1
    return " ".join(texts), media


def _tool_to_call(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    names = [
        t["function"]["name"]
        for t in (tools if isinstance(tools, list) else ())
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
    ]
    choice = body.get("tool_choice")
    if not names or choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        forced = choice["function"].get("name")
        if isinstance(forced, str):
            return forced
    return names[0]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _stops(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str))
    return ()


# --- the answer -----------------------------------------------------------------


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if reply.tool_name else reply.text,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_name:
        message["tool_calls"] = [
            {
                "id": new_id("call_"),
                "type": "function",
                "function": {"name": reply.tool_name, "arguments": reply.tool_arguments},
            }
        ]
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _FINISH[reply.finish]}],
        "usage": _usage(reply),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _chunks(reply: Reply, model: str, include_usage: bool) -> list[bytes]:
    base: dict[str, Any] = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            obj["usage"] = None
        return _sse(obj)

    if reply.tool_name:
        header = {
            "index": 0,
            "id": new_id("call_"),
            "type": "function",
            "function": {"name": reply.tool_name, "arguments": ""},
        }
        events = [chunk({"role": "assistant", "content": None, "tool_calls": [header], "refusal": None})]
        events += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in reply.argument_pieces
        ]
    else:
        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": piece}) for piece in reply.pieces]
    events.append(chunk({}, _FINISH[reply.finish]))
    if include_usage:
        events.append(_sse({**base, "choices": [], "usage": _usage(reply)}))
    events.append(_DONE)
    return events


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "system"}


def _error_parts(status: int, model: str) -> tuple[str, str | None, str]:
    default = ("server_error", None, "The server had an error processing your request.")
    if status < 500:
        default = ("invalid_request_error", None, "Invalid request.")
    kind, code, message = _ERRORS.get(status, default)
    return kind, code, message.replace("{model}", model)


def _headers(content_type: str) -> list[tuple[str, str]]:
    return [
        ("content-type", content_type),
        ("x-request-id", new_id("req_", 16)),
        ("openai-version", "2020-10-01"),
        ("openai-processing-ms", "1"),
    ]


def _sse(obj: Any) -> bytes:
    return b"data: " + jsonio.dumps(obj) + b"\n\n"
