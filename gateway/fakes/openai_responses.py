"""The fake OpenAI server's ``POST /v1/responses``: OpenAI's Responses API wire format.

A Response object as JSON, or the real SSE event sequence (``event: <type>`` lines, a
``sequence_number`` on every event, usage in ``response.completed``); a ``function_call``
output item when function tools are given (as the chat route decides tool calls); errors in
OpenAI's error shape; in-stream failures as the ``error`` event. Replies come from
``replies.py``, so the same request gets the same text here as on chat, and the fault knobs
act as on every route (``exchange.py``): failures, delays, cuts, malformed and error events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.fakes.exchange import Exchange, Stream, decide_faults, read_json
from gateway.fakes.knobs import FakeState
from gateway.fakes.replies import Prompt, Reply, make_reply, new_id

PROVIDER = "openai"
FAILURE_STATUS = 500
_MALFORMED = b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": \n\n'

ErrorFn = Callable[..., Exchange]


def responses_route(state: FakeState, error: ErrorFn, forced_error: ErrorFn, auth: Callable[..., Any],
                    error_parts: Callable[[int, str], tuple[str, str | None, str]],
                    headers: Callable[[str], list[tuple[str, str]]]) -> Callable[[Request], Any]:
    """The route's handler, built on the chat fake's own error, auth and header helpers."""

    async def create(request: Request) -> Response:
        body, ok = await read_json(request, state)
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) and model else None
        knobs = state.knobs_for(model)
        denied = auth(request, knobs)
        if denied is not None:
            return denied
        if not ok or not isinstance(body, dict):
            return error(knobs, 400, "We could not parse the JSON body of your request.")
        if model is None:
            return error(knobs, 400, "Missing required parameter: 'model'.", param="model",
                         code="missing_required_parameter")
        if not isinstance(body.get("input"), (str, list)):
            return error(knobs, 400, "Missing required parameter: 'input'.", param="input",
                         code="missing_required_parameter")
        if body.get("previous_response_id") is not None:  # this fake stores nothing
            return error(knobs, 404, f"Previous response with id '{body['previous_response_id']}' not found.",
                         param="previous_response_id", code="previous_response_not_found")
        stream = body.get("stream") is True
        faults = decide_faults(state, model, knobs, stream=stream, failure_status=FAILURE_STATUS)
        if faults.hang:
            return Exchange(state, knobs, hang=True)
        if faults.status is not None:
            return forced_error(knobs, faults.status, model)
        prompt = _prompt(body, model)
        if knobs.context_window is not None and prompt.input_tokens > knobs.context_window:
            return error(knobs, 400, f"Your input exceeds the context window of this model "
                         f"({prompt.input_tokens} > {knobs.context_window} tokens).", param="input",
                         code="context_length_exceeded")
        reply = make_reply(prompt, knobs)
        shape = _Shape(body, model, reply)
        if stream:
            status = knobs.status if knobs.status is not None else FAILURE_STATUS
            kind, code, message = error_parts(status, model)
            failure = _frame("error", {"type": "error", "code": code or kind, "message": knobs.error_message or message,
                                       "param": None, "sequence_number": 0})
            plan = Stream(events=shape.events(), terminal=1, malformed=_MALFORMED, error_event=failure)
            return Exchange(state, knobs, headers=headers("text/event-stream; charset=utf-8"), stream=plan,
                            faults=faults.active)
        steps = len(reply.argument_pieces if reply.tool_name else reply.pieces) + 3
        return Exchange(state, knobs, headers=headers("application/json"),
                        body=jsonio.dumps(shape.response("completed", shape.output())), faults=faults.active,
                        steps=steps)

    return create


def _prompt(body: dict[str, Any], model: str) -> Prompt:
    raw = body["input"]
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else [i for i in raw if isinstance(i, dict)]
    instructions = body.get("instructions")
    chars = len(instructions) if isinstance(instructions, str) else 0
    images = 0
    last_user = ""
    for item in items:
        kind = item.get("type") or "message"
        if kind == "message":
            text, media = _content(item.get("content"))
            chars += len(text)
            images += media
            if item.get("role") == "user":
                last_user = text
        elif kind == "function_call":
            chars += len(str(item.get("name", ""))) + len(str(item.get("arguments", "")))
        elif kind == "function_call_output":
            chars += len(_content(item.get("output"))[0])
    last = items[-1] if items else {}
    tool_result = _content(last.get("output"))[0] if last.get("type") == "function_call_output" else None
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    max_tokens = body.get("max_output_tokens")
    return Prompt(
        provider=PROVIDER, model=model, last_user_text=last_user, tool_result=tool_result, chars=chars,
        images=images, tool_name=None if tool_result is not None else _tool_to_call(body),
        json_mode=isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"),
        max_tokens=max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
    )


def _content(content: object) -> tuple[str, int]:
    if isinstance(content, str):
        return content, 0
    texts: list[str] = []
    media = 0
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") in ("input_image", "input_file", "input_audio"):
            media += 1
    return " ".join(texts), media


def _tool_to_call(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    names = [t["name"] for t in (tools if isinstance(tools, list) else ())
             if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)]
    choice = body.get("tool_choice")
    if not names or choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("name"), str):
        return str(choice["name"])
    return names[0]


def _frame(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + jsonio.dumps(payload) + b"\n\n"


class _Shape:
    """One reply as a Response object and as its event sequence."""

    def __init__(self, body: dict[str, Any], model: str, reply: Reply) -> None:
        self.body = body
        self.model = model
        self.reply = reply
        self.id = new_id("resp_", 24)
        self.item_id = new_id("fc_" if reply.tool_name else "msg_", 24)
        self.call_id = new_id("call_", 12)
        self.created = int(time.time())

    def response(self, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        body, reply = self.body, self.reply
        done = status == "completed"
        incomplete = done and reply.finish == "length"
        return {
            "id": self.id, "object": "response", "created_at": self.created,
            "status": "incomplete" if incomplete else status, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": self.model, "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None, "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [], "top_p": body.get("top_p", 1.0), "truncation": "disabled",
            "usage": self.usage() if done else None, "user": body.get("user"), "metadata": body.get("metadata") or {},
        }

    def usage(self) -> dict[str, Any]:
        r = self.reply
        return {"input_tokens": r.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": r.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": r.input_tokens + r.output_tokens}

    def item(self, status: str) -> dict[str, Any]:
        done = status == "completed"
        if self.reply.tool_name:
            return {"id": self.item_id, "type": "function_call", "status": status, "call_id": self.call_id,
                    "name": self.reply.tool_name, "arguments": self.reply.tool_arguments if done else ""}
        content = [self.part(self.reply.text)] if done else []
        return {"id": self.item_id, "type": "message", "status": status, "role": "assistant", "content": content}

    def part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def output(self) -> list[dict[str, Any]]:
        return [self.item("completed")]

    def events(self) -> list[bytes]:
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": self.response("in_progress", [])}),
            ("response.in_progress", {"response": self.response("in_progress", [])}),
            ("response.output_item.added", {"output_index": 0, "item": self.item("in_progress")}),
        ]
        at = {"item_id": self.item_id, "output_index": 0}
        reply = self.reply
        if reply.tool_name:
            events += [("response.function_call_arguments.delta", {**at, "delta": piece})
                       for piece in reply.argument_pieces]
            events.append(("response.function_call_arguments.done",
                           {**at, "name": reply.tool_name, "arguments": reply.tool_arguments}))
        else:
            text_at = {**at, "content_index": 0}
            events.append(("response.content_part.added", {**text_at, "part": self.part("")}))
            events += [("response.output_text.delta", {**text_at, "delta": piece, "logprobs": []})
                       for piece in reply.pieces]
            events.append(("response.output_text.done", {**text_at, "text": reply.text, "logprobs": []}))
            events.append(("response.content_part.done", {**text_at, "part": self.part(reply.text)}))
        events.append(("response.output_item.done", {"output_index": 0, "item": self.item("completed")}))
        final = self.response("completed", self.output())
        events.append(("response.incomplete" if final["status"] == "incomplete" else "response.completed",
                       {"response": final}))
        return [_frame(kind, {"type": kind, "sequence_number": n, **fields}) for n, (kind, fields) in enumerate(events)]
