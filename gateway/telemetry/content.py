"""Prompt and completion content in the GenAI conventions' message format (opt-in only).

Nothing here runs unless ``GROVE_RECORD_CONTENT=true``: content is user data. The shapes
follow the conventions' input and output message JSON schemas (``role`` + ``parts``, text
parts as ``{"type": "text", "content": ...}``, tool calls and tool responses as their own
part types, other parts by their type only), recorded as JSON strings.
"""

from __future__ import annotations

from typing import Any

from gateway import jsonio


def input_messages(body: dict[str, Any]) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        parts: list[dict[str, Any]] = []
        if role == "tool":
            parts.append({"type": "tool_call_response", "id": message.get("tool_call_id"),
                          "response": message.get("content")})
        else:
            parts.extend(_content_parts(message.get("content")))
            parts.extend(_tool_calls(message.get("tool_calls")))
        out.append({"role": role, "parts": parts})
    return jsonio.dumps(out).decode()


def output_messages(completion_body: bytes) -> str | None:
    try:
        data = jsonio.loads(completion_body)
    except jsonio.JSONDecodeError:
        return None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        return None
    out = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        parts = [*_content_parts(message.get("content")), *_tool_calls(message.get("tool_calls"))]
        out.append({"role": message.get("role") or "assistant", "parts": parts,
                    "finish_reason": choice.get("finish_reason")})
    return jsonio.dumps(out).decode()


class StreamedOutput:
    """Assembles a streamed reply's text and finish reasons, choice by choice."""

    __slots__ = ("_text", "_finish")

    def __init__(self) -> None:
        self._text: dict[int, list[str]] = {}
        self._finish: dict[int, str] = {}

    def add(self, payload: bytes) -> None:
        try:
            chunk = jsonio.loads(payload)
        except jsonio.JSONDecodeError:
            return
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index") if isinstance(choice.get("index"), int) else 0
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                self._text.setdefault(index, []).append(delta["content"])
            if isinstance(choice.get("finish_reason"), str):
                self._finish[index] = choice["finish_reason"]

    def finish_reasons(self) -> list[str]:
        return [self._finish[i] for i in sorted(self._finish)]

    def messages(self) -> str:
        indexes = sorted(set(self._text) | set(self._finish))
        out = [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self._text.get(i, []))}],
                "finish_reason": self._finish.get(i)} for i in indexes]
        return jsonio.dumps(out).decode()


def _content_parts(value: object) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "text", "content": value}]
    if not isinstance(value, list):
        return []
    parts: list[dict[str, Any]] = []
    for part in value:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            parts.append({"type": "text", "content": part.get("text")})
        else:
            parts.append({"type": str(part.get("type"))})  # images, audio: not copied into telemetry
    return parts


def _tool_calls(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    parts = []
    for call in value:
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
                          "arguments": function.get("arguments")})
    return parts
