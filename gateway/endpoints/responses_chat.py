"""The Responses API on a chat upstream: Anthropic, Gemini, chat-only OpenAI-compatible servers.

The request side is litellm's Responses-to-chat transformation, reached at the level of its
pure pieces (input items to messages, tools, ``tool_choice``, ``text.format``): its top-level
request transform also probes the model's capabilities, which costs time and means nothing
here. The chat body then goes to the deployment's own chat translator, so every provider's
quirks stay in one place. The reply side (a ``chat.completion`` into a Response, chat chunks
into the Responses event sequence) is written here: litellm's takes its ``ModelResponse``
objects and streaming wrappers, which would mean building those per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import jsonio
from gateway.endpoints.response_store import item_id
from gateway.errors import UpstreamError
from gateway.providers import litellm_bridge as lb
from gateway.providers.base import ChatRequest, Completion, Translator, UpstreamRequest, Usage

# Request fields the Response object echoes back, with OpenAI's defaults.
_ECHO: dict[str, Any] = {
    "instructions": None, "max_output_tokens": None, "metadata": {}, "parallel_tool_calls": True,
    "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "store": True,
    "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
    "top_p": 1.0, "truncation": "disabled", "user": None,
}
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def chat_body(source: Mapping[str, Any], items: list[dict[str, Any]], upstream_model: str,
              stream: bool) -> dict[str, Any]:
    """The chat-completions body for a Responses request whose conversation is ``items``."""
    config = lb.responses_config()
    with lb.translating_request("chat"):
        body: dict[str, Any] = {
            "model": upstream_model,
            "messages": config.transform_responses_api_input_to_messages(
                items, {"instructions": source.get("instructions")}, replay_reasoning=True),
        }
        tools, _ = config.transform_responses_api_tools_to_chat_completion_tools(source.get("tools") or [])
        if tools:
            body["tools"] = tools
            if source.get("tool_choice") is not None:
                body["tool_choice"] = config._transform_tool_choice(source["tool_choice"])
            if source.get("parallel_tool_calls") is not None:
                body["parallel_tool_calls"] = source["parallel_tool_calls"]
        text = source.get("text")
        if isinstance(text, dict) and isinstance(text.get("format"), dict) and text["format"].get("type") != "text":
            body["response_format"] = config._transform_text_format_to_response_format(text)
    reasoning = source.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        body["reasoning_effort"] = reasoning["effort"]
    for ours, theirs in (("max_output_tokens", "max_tokens"), ("temperature", "temperature"),
                         ("top_p", "top_p"), ("user", "user")):
        if source.get(ours) is not None:
            body[theirs] = source[ours]
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def usage_json(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def envelope(source: Mapping[str, Any], response_id: str, created: int, model: str, status: str,
             output: list[dict[str, Any]], usage: Usage | None, finish: str | None = None) -> dict[str, Any]:
    """A Response object: the echoed request fields around ``output``."""
    out: dict[str, Any] = {"id": response_id, "object": "response", "created_at": created, "status": status,
                           "error": None, "incomplete_details": None, "model": model, "output": output,
                           "usage": usage_json(usage)}
    for name, default in _ECHO.items():
        value = source.get(name)
        out[name] = default if value is None else value
    if finish in _INCOMPLETE:
        out["status"] = "incomplete"
        out["incomplete_details"] = {"reason": _INCOMPLETE[finish]}
    return out


def message_item(item_id_: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
    return {"id": item_id_, "type": "message", "status": status, "role": "assistant", "content": content}


def call_item(item_id_: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id_, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


@dataclass(slots=True)
class _Open:
    """An output item being streamed."""

    id: str
    index: int
    kind: str  # "message" or "function_call"
    parts: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""


class ResponsesViaChat:
    """One attempt of a Responses request through a deployment's chat translator."""

    def __init__(self, inner: Translator, source: Mapping[str, Any], model: str) -> None:
        self.inner = inner
        self.source = source
        self.final: dict[str, Any] | None = None
        """The finished Response object (what the store keeps)."""
        self._id = item_id("resp_")
        self._created = int(time.time())
        self._model = model
        self._seq = 0
        self._started = False
        self._items: list[_Open] = []
        self._text: _Open | None = None
        self._calls: dict[int, _Open] = {}
        self._finish: str | None = None

    @property
    def usage(self) -> Usage | None:
        return self.inner.usage

    def request(self) -> UpstreamRequest:
        return self.inner.request()

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return self.inner.error(status, body, headers)

    # --- non-stream ------------------------------------------------------------------------------

    def response(self, body: bytes) -> Completion:
        completion = self.inner.response(body)
        chat = jsonio.loads(completion.body)
        choice = (chat.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        output: list[dict[str, Any]] = []
        if isinstance(message.get("content"), str) and message["content"]:
            output.append(message_item(item_id("msg_"), message["content"]))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            output.append(call_item(item_id("fc_"), call.get("id") or item_id("call_"), function.get("name", ""),
                                    function.get("arguments") or ""))
        finish = choice.get("finish_reason")
        self.final = envelope(self.source, self._id, self._created, chat.get("model") or self._model, "completed",
                              output, completion.usage, finish)
        return Completion(jsonio.dumps(self.final), completion.usage, self._id, self.final["model"],
                          completion.finish_reasons)

    # --- stream ----------------------------------------------------------------------------------

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for payload in self.inner.stream_event(event, data):
            out += self._chunk(jsonio.loads(payload))
        return out

    def stream_close(self) -> list[bytes]:
        out: list[bytes] = []
        for payload in self.inner.stream_close():
            out += self._chunk(jsonio.loads(payload))
        if not self._started:
            out += self._start()
        return out + self._finish_events()

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + jsonio.dumps(payload) + b"\n\n"

    def _start(self) -> list[bytes]:
        self._started = True
        shell = envelope(self.source, self._id, self._created, self._model, "in_progress", [], None)
        return [self._event("response.created", response=shell), self._event("response.in_progress", response=shell)]

    def _chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            if isinstance(chunk.get("model"), str) and chunk["model"]:
                self._model = chunk["model"]
            out += self._start()
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                out += self._text_delta(text)
            for call in delta.get("tool_calls") or ():
                out += self._call_delta(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def _open(self, kind: str, **fields: Any) -> _Open:
        item = _Open(item_id("msg_" if kind == "message" else "fc_"), len(self._items), kind, **fields)
        self._items.append(item)
        return item

    def _text_delta(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        item = self._text
        if item is None:
            item = self._text = self._open("message")
            out.append(self._event("response.output_item.added", output_index=item.index,
                                   item=message_item(item.id, "", "in_progress")))
            out.append(self._event("response.content_part.added", item_id=item.id, output_index=item.index,
                                   content_index=0, part=_text_part("")))
        item.parts.append(text)
        out.append(self._event("response.output_text.delta", item_id=item.id, output_index=item.index,
                               content_index=0, delta=text, logprobs=[]))
        return out

    def _call_delta(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        function = call.get("function") or {}
        index = call.get("index", 0)
        item = self._calls.get(index)
        if item is None:
            item = self._calls[index] = self._open("function_call", call_id=call.get("id") or item_id("call_"),
                                                   name=function.get("name") or "")
            out.append(self._event("response.output_item.added", output_index=item.index,
                                   item=call_item(item.id, item.call_id, item.name, "", "in_progress")))
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            item.parts.append(piece)
            out.append(self._event("response.function_call_arguments.delta", item_id=item.id,
                                   output_index=item.index, delta=piece))
        return out

    def _finish_events(self) -> list[bytes]:
        out: list[bytes] = []
        output: list[dict[str, Any]] = []
        for item in self._items:
            whole = "".join(item.parts)
            if item.kind == "message":
                done = message_item(item.id, whole)
                out.append(self._event("response.output_text.done", item_id=item.id, output_index=item.index,
                                       content_index=0, text=whole, logprobs=[]))
                out.append(self._event("response.content_part.done", item_id=item.id, output_index=item.index,
                                       content_index=0, part=_text_part(whole)))
            else:
                done = call_item(item.id, item.call_id, item.name, whole)
                out.append(self._event("response.function_call_arguments.done", item_id=item.id,
                                       output_index=item.index, name=item.name, arguments=whole))
            out.append(self._event("response.output_item.done", output_index=item.index, item=done))
            output.append(done)
        self.final = envelope(self.source, self._id, self._created, self._model, "completed", output,
                              self.inner.usage, self._finish)
        kind = "response.completed" if self.final["status"] == "completed" else "response.incomplete"
        out.append(self._event(kind, response=self.final))
        return out


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def inner_request(request: ChatRequest, body: dict[str, Any]) -> ChatRequest:
    """The chat request a deployment's chat translator gets for ``body``."""
    return ChatRequest(body=body, raw=jsonio.dumps(body), model=body["model"], stream=request.stream,
                       include_usage=True, endpoint=request.endpoint)
