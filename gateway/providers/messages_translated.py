"""Anthropic Messages to an upstream that speaks another format (OpenAI-compatible, Gemini).

The request goes Messages → OpenAI chat with litellm's ``LiteLLMAnthropicMessagesAdapter``
(system prompt, content blocks, images, tool use and results, tool choice, stop sequences,
thinking as ``reasoning_effort``, ``metadata.user_id`` as ``user``), keeping only the chat
fields an OpenAI-compatible upstream takes; then the deployment's own chat translator carries
it the rest of the way (bytes to an OpenAI-compatible upstream, litellm's Gemini translation).

The answer comes back as OpenAI chat (a ``chat.completion``, or chunks) and is turned into
Anthropic's message object or event sequence here (message_start, content_block_start,
text_delta / thinking_delta / input_json_delta, content_block_stop, message_delta with the
stop reason and usage, message_stop). litellm's own stream wrapper is not used: it pulls from
an iterator of its response objects, while a translator is handed one upstream event at a time;
the non-stream answer is converted by the same rules as the stream, so both say the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gateway import jsonio
from gateway.errors import UpstreamBadResponse, UpstreamError
from gateway.providers import litellm_bridge as lb
from gateway.providers.base import ChatRequest, Completion, Translator, UpstreamRequest, Usage

if TYPE_CHECKING:
    from gateway.registry import Deployment

# The chat request fields an OpenAI-compatible upstream takes; litellm's adapter copies every
# field it does not translate (top_k, service_tier, ...), which such an upstream would refuse.
_CHAT_FIELDS = frozenset({"model", "messages", "max_tokens", "temperature", "top_p", "stop", "tools",
                          "tool_choice", "user", "response_format", "reasoning_effort", "parallel_tool_calls"})
# litellm's own message fields (replayed thinking), which only litellm's translations read.
_LITELLM_MESSAGE_FIELDS = ("thinking_blocks", "reasoning_content")
_STOP_REASON: Mapping[str, str] = MappingProxyType({
    "stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
    "content_filter": "refusal"})


class MessagesViaChat:
    """One attempt of a Messages request on a chat-speaking deployment: see the module docstring."""

    def __init__(self, deployment: Deployment, request: ChatRequest) -> None:
        self.usage: Usage | None = None
        self._deployment = deployment
        self._request = request
        self._inner: Translator | None = None
        self._names: dict[str, str] = {}  # tool names litellm shortened → the client's
        self._events = _EventWriter(request.model, self._names)

    def _chat(self) -> Translator:
        if self._inner is None:
            deployment, req = self._deployment, self._request
            model = deployment.model.upstream_model
            assert req.source is not None
            with lb.translating_request(deployment.provider_kind):
                chat, names = lb.load().messages_adapter.translate_anthropic_to_openai({**req.source, "model": model})
            self._names.update(names)
            body: dict[str, Any] = {k: v for k, v in chat.items() if k in _CHAT_FIELDS}
            body["model"] = model
            if body.get("reasoning_effort") == "none":  # thinking disabled: models without reasoning refuse it
                del body["reasoning_effort"]
            if deployment.provider_kind == "openai-compatible":
                body["messages"] = [_plain_message(m) for m in body["messages"]]
            if req.stream:
                body["stream"] = True
                body["stream_options"] = {"include_usage": True}  # message_delta carries the usage
            inner = ChatRequest(body=body, raw=jsonio.dumps(body), model=model, stream=req.stream,
                                include_usage=req.stream)
            self._inner = deployment.provider.translator(inner, model)
        return self._inner

    def request(self) -> UpstreamRequest:
        return self._chat().request()

    def response(self, body: bytes) -> Completion:
        completion = self._chat().response(body)
        self.usage = completion.usage
        data = lb.parse_json_object(completion.body, self._deployment.provider_kind)
        message = message_from_chat(data, self._names, completion.usage)
        stop = message["stop_reason"]
        return Completion(jsonio.dumps(message), completion.usage, message["id"], message["model"], (stop,))

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        inner = self._chat()
        payloads = inner.stream_event(event, data)
        self.usage = inner.usage
        return self._events.chunks(payloads)

    def stream_close(self) -> list[bytes]:
        inner = self._chat()
        payloads = inner.stream_close()
        self.usage = inner.usage
        return [*self._events.chunks(payloads), *self._events.close(self.usage)]

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return self._chat().error(status, body, headers)


def _plain_message(message: dict[str, Any]) -> dict[str, Any]:
    if not any(name in message for name in _LITELLM_MESSAGE_FIELDS):
        return message
    return {k: v for k, v in message.items() if k not in _LITELLM_MESSAGE_FIELDS}


def message_usage(usage: Usage | None) -> dict[str, int]:
    """The gateway's usage as Anthropic reports it (its input_tokens leave out cached reads)."""
    usage = usage or Usage()
    return {"input_tokens": usage.input_tokens - usage.cached_input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens}


def message_id(chat_id: object) -> str:
    return f"msg_{chat_id}" if isinstance(chat_id, str) and chat_id else f"msg_{uuid.uuid4().hex}"


def message_from_chat(data: Mapping[str, Any], names: Mapping[str, str], usage: Usage | None) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` → Anthropic's message object."""
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if choice is None or not isinstance(choice.get("message"), dict):
        raise UpstreamBadResponse("malformed reply: a chat completion without a message")
    msg = choice["message"]
    content: list[dict[str, Any]] = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = msg.get("content")
    calls = msg.get("tool_calls") if isinstance(msg.get("tool_calls"), list) else []
    if (isinstance(text, str) and text) or not calls:
        content.append({"type": "text", "text": text if isinstance(text, str) else ""})
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise UpstreamBadResponse("malformed reply: a tool call without a function")
        name = str(function.get("name") or "")
        content.append({"type": "tool_use", "id": str(call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}"),
                        "name": names.get(name, name), "input": _arguments(function.get("arguments"))})
    return {
        "id": message_id(data.get("id")),
        "type": "message",
        "role": "assistant",
        "model": str(data.get("model") or ""),
        "content": content,
        "stop_reason": _STOP_REASON.get(str(choice.get("finish_reason")), "end_turn"),
        "stop_sequence": None,
        "usage": message_usage(usage),
    }


def _arguments(raw: object) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        parsed = jsonio.loads(raw) if isinstance(raw, str) else raw
    except jsonio.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamBadResponse("malformed reply: tool call arguments that are not a JSON object")
    return parsed


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + jsonio.dumps(data) + b"\n\n"


class _EventWriter:
    """OpenAI chat chunks → Anthropic stream events, one content block open at a time."""

    def __init__(self, model: str, names: Mapping[str, str]) -> None:
        self._model = model
        self._names = names
        self._started = False
        self._index = -1
        self._open: str | None = None  # the open block's kind: "text", "thinking", "tool_use"
        self._tools: dict[int, int] = {}  # the chunk's tool call index → its block index
        self._stop = "end_turn"

    def chunks(self, payloads: Iterable[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for payload in payloads:
            chunk = lb.parse_json_object(payload, "chat")
            if not self._started:
                self._start(out, chunk)
            choices = chunk.get("choices")
            for choice in choices if isinstance(choices, list) else ():
                if isinstance(choice, dict) and not choice.get("index"):  # Messages has one answer
                    self._choice(out, choice)
        return out

    def _start(self, out: list[bytes], chunk: Mapping[str, Any]) -> None:
        self._started = True
        model = chunk.get("model")
        out.append(_event("message_start", {"type": "message_start", "message": {
            "id": message_id(chunk.get("id")), "type": "message", "role": "assistant",
            "model": model if isinstance(model, str) and model else self._model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": message_usage(None)}}))

    def _choice(self, out: list[bytes], choice: Mapping[str, Any]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                self._block(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
                self._delta(out, self._index, {"type": "thinking_delta", "thinking": reasoning})
            text = delta.get("content")
            if isinstance(text, str) and text:
                self._block(out, "text", {"type": "text", "text": ""})
                self._delta(out, self._index, {"type": "text_delta", "text": text})
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict):
                    self._tool_call(out, call)
        finish = choice.get("finish_reason")
        if isinstance(finish, str):
            self._stop = _STOP_REASON.get(finish, "end_turn")

    def _tool_call(self, out: list[bytes], call: Mapping[str, Any]) -> None:
        position = call.get("index") if isinstance(call.get("index"), int) else 0
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        if call.get("id") or position not in self._tools:
            name = str(function.get("name") or "")
            call_id = str(call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}")
            self._block(out, "tool_use", {"type": "tool_use", "id": call_id, "name": self._names.get(name, name),
                                          "input": {}}, new=True)
            self._tools[position] = self._index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._delta(out, self._tools[position], {"type": "input_json_delta", "partial_json": arguments})

    def _block(self, out: list[bytes], kind: str, block: dict[str, Any], new: bool = False) -> None:
        if self._open == kind and not new:
            return
        self._stop_block(out)
        self._index += 1
        self._open = kind
        out.append(_event("content_block_start", {"type": "content_block_start", "index": self._index,
                                                  "content_block": block}))

    def _delta(self, out: list[bytes], index: int, delta: dict[str, Any]) -> None:
        out.append(_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))

    def _stop_block(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_event("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._open = None

    def close(self, usage: Usage | None) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._start(out, {})
        self._stop_block(out)
        out.append(_event("message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": self._stop, "stop_sequence": None},
                                            "usage": message_usage(usage)}))
        out.append(_event("message_stop", {"type": "message_stop"}))
        return out
