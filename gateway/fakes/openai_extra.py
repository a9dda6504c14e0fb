"""The fake OpenAI server's embeddings and legacy completions, in their real wire formats.

``POST /v1/embeddings``: ``input`` as a string, strings, a token array or token arrays;
``encoding_format`` float or base64 (float32 little-endian); ``dimensions`` (text-embedding-3
models only, at most the native size); one deterministic vector per input (``vectors.py``);
``usage`` with ``prompt_tokens`` and ``total_tokens``. The ``context_window`` knob is the limit
per input, as OpenAI's embedding models have it.

``POST /v1/completions``: ``text_completion`` objects, one choice per prompt; ``max_tokens``
defaults to 16 as OpenAI's does; streams as ``data:`` events, each ``finish_reason`` on a chunk
of its own, the usage chunk (``choices: []``) when ``stream_options.include_usage``, then
``[DONE]``. OpenAI's chat-only models answer 404, as OpenAI does.

The fault knobs act as on chat completions (``exchange.py``). Mounted by ``openai_fake``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import jsonio
from gateway.fakes.exchange import Exchange, Stream, decide_faults, read_json
from gateway.fakes.knobs import Knobs
from gateway.fakes.openai_fake import (
    _BAD_JSON,
    _DONE,
    FAILURE_STATUS,
    FINGERPRINT,
    PROVIDER,
    _error_parts,
    _headers,
    _OpenAIFake,
    _sse,
)
from gateway.fakes.replies import Prompt, Reply, make_reply, new_id, split_words, tokens
from gateway.fakes.vectors import float32_base64, native_dimensions, vector

LEGACY_MAX_TOKENS = 16
_CHAT_ONLY = ("gpt-4", "gpt-5", "o1", "o3", "o4", "chatgpt")
_NOT_LEGACY = (
    "This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?"
)
_BAD_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
_MALFORMED = b'data: {"id": "cmpl-broken", "object": "text_completion", "choices": [{"text": \n\n'


def extra_routes(fake: _OpenAIFake) -> list[Route]:
    extra = _Extra(fake)
    return [Route("/v1/embeddings", extra.embeddings, methods=["POST"]),
            Route("/v1/completions", extra.completions, methods=["POST"])]


class _Extra:
    def __init__(self, fake: _OpenAIFake) -> None:
        self.fake = fake
        self.state = fake.state

    async def _open(self, request: Request) -> tuple[dict[str, Any], str, Knobs] | Response:
        """What every request answers first: the key, a JSON object, a model; or the error."""
        body, ok = await read_json(request, self.state)
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) and model else None
        knobs = self.state.knobs_for(model)
        denied = self.fake._auth(request, knobs)
        if denied is not None:
            return denied
        if not ok or not isinstance(body, dict):
            return self.fake._error(knobs, 400, _BAD_JSON)
        if model is None:
            return self.fake._error(knobs, 400, "you must provide a model parameter")
        return body, model, knobs

    async def embeddings(self, request: Request) -> Response:
        opened = await self._open(request)
        if isinstance(opened, Response):
            return opened
        body, model, knobs = opened
        if "input" not in body:
            return self.fake._error(knobs, 400, "'input' is a required property")
        items = _items(body["input"])
        if items is None:
            return self.fake._error(knobs, 400, _BAD_INPUT)
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return self.fake._error(knobs, 400, f"{fmt!r} is not one of ['float', 'base64'] - 'encoding_format'",
                                    param="encoding_format")
        native = native_dimensions(model)
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if "ada-002" in model:
                return self.fake._error(knobs, 400, "This model does not support specifying dimensions.",
                                        param="dimensions")
            if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= native:
                return self.fake._error(knobs, 400, f"Invalid value for 'dimensions' = {dimensions}. Must be "
                                        f"between 1 and {native}.", param="dimensions")
        faults = decide_faults(self.state, model, knobs, stream=False, failure_status=FAILURE_STATUS)
        if faults.hang:
            return Exchange(self.state, knobs, hang=True)
        if faults.status is not None:
            return self.fake._forced_error(knobs, faults.status, model)
        counts = [len(item) if isinstance(item, list) else tokens(len(item)) for item in items]
        if knobs.context_window is not None and max(counts) > knobs.context_window:
            over = max(counts)
            return self.fake._error(
                knobs, 400, f"This model's maximum context length is {knobs.context_window} tokens, however you "
                f"requested {over} tokens ({over} in your prompt; 0 for the completion). Please reduce your prompt; "
                "or completion length.", code="context_length_exceeded")
        size = dimensions or native
        data = []
        for index, item in enumerate(items):
            values = vector(item if isinstance(item, str) else " ".join(map(str, item)), size)
            data.append({"object": "embedding", "index": index,
                         "embedding": float32_base64(values) if fmt == "base64" else values})
        used = sum(counts)
        reply = {"object": "list", "data": data, "model": model,
                 "usage": {"prompt_tokens": used, "total_tokens": used}}
        return Exchange(self.state, knobs, headers=_headers("application/json"), body=jsonio.dumps(reply),
                        faults=faults.active)

    async def completions(self, request: Request) -> Response:
        opened = await self._open(request)
        if isinstance(opened, Response):
            return opened
        body, model, knobs = opened
        if model.startswith(_CHAT_ONLY) or (model.startswith("gpt-3.5-turbo") and "instruct" not in model):
            return self.fake._error(knobs, 404, _NOT_LEGACY, param="model")
        if "prompt" not in body:
            return self.fake._error(knobs, 400, "Missing required parameter: 'prompt'.", param="prompt",
                                    code="missing_required_parameter")
        prompts = _items(body["prompt"])
        if prompts is None:
            return self.fake._error(knobs, 400, "Invalid type for 'prompt'.", param="prompt", code="invalid_type")
        stream = body.get("stream") is True
        faults = decide_faults(self.state, model, knobs, stream=stream, failure_status=FAILURE_STATUS)
        if faults.hang:
            return Exchange(self.state, knobs, hang=True)
        if faults.status is not None:
            return self.fake._forced_error(knobs, faults.status, model)
        max_tokens = body.get("max_tokens", LEGACY_MAX_TOKENS)
        max_tokens = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else LEGACY_MAX_TOKENS
        stops = body.get("stop")
        stop = (stops,) if isinstance(stops, str) else tuple(s for s in stops or () if isinstance(s, str))
        replies = [make_reply(_prompt(item, model, max_tokens, stop), knobs) for item in prompts]
        if knobs.context_window is not None and max(r.input_tokens for r in replies) > knobs.context_window:
            return self.fake._error(
                knobs, 400, f"This model's maximum context length is {knobs.context_window} tokens, however you "
                f"requested more. Please reduce your prompt; or completion length.", param="prompt",
                code="context_length_exceeded")
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            status = knobs.status if knobs.status is not None else FAILURE_STATUS
            kind, code, message = _error_parts(status, model)
            error = {"message": knobs.error_message or message, "type": kind, "param": None, "code": code}
            plan = Stream(events=_chunks(replies, model, include_usage), terminal=1, malformed=_MALFORMED,
                          error_event=_sse({"error": error}))
            return Exchange(self.state, knobs, headers=_headers("text/event-stream; charset=utf-8"), stream=plan,
                            faults=faults.active)
        completion = {
            "id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"text": r.text, "index": i, "logprobs": None, "finish_reason": _finish(r)}
                        for i, r in enumerate(replies)],
            "usage": _usage(replies), "system_fingerprint": FINGERPRINT,
        }
        steps = max(len(r.pieces) for r in replies) + 3
        return Exchange(self.state, knobs, headers=_headers("application/json"), body=jsonio.dumps(completion),
                        faults=faults.active, steps=steps)


def _items(value: object) -> list[str] | list[list[int]] | None:
    """A string, strings, a token array or token arrays → the list of inputs; None if malformed."""
    if isinstance(value, str):
        return [value] if value else None
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, str) and v for v in value):
        return list(value)
    if all(_is_token(v) for v in value):
        return [list(value)]
    if all(isinstance(v, list) and v and all(_is_token(t) for t in v) for v in value):
        return [list(v) for v in value]
    return None


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _prompt(item: str | list[int], model: str, max_tokens: int, stop: tuple[str, ...]) -> Prompt:
    text = item if isinstance(item, str) else " ".join(map(str, item))
    chars = len(item) * 4 if isinstance(item, list) else len(item)
    return Prompt(provider=PROVIDER, model=model, last_user_text=text, tool_result=None, chars=chars, images=0,
                  tool_name=None, max_tokens=max_tokens, stop=stop)


def _finish(reply: Reply) -> str:
    return "length" if reply.finish == "length" else "stop"


def _usage(replies: list[Reply]) -> dict[str, int]:
    prompt = sum(r.input_tokens for r in replies)
    completion = sum(r.output_tokens for r in replies)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunks(replies: list[Reply], model: str, include_usage: bool) -> list[bytes]:
    base: dict[str, Any] = {"id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()),
                            "model": model, "system_fingerprint": FINGERPRINT}

    def chunk(index: int, text: str, finish: str | None) -> bytes:
        obj = {**base, "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            obj["usage"] = None
        return _sse(obj)

    events = []
    for index, reply in enumerate(replies):
        events += [chunk(index, piece, None) for piece in split_words(reply.text)]
        events.append(chunk(index, "", _finish(reply)))
    if include_usage:
        events.append(_sse({**base, "choices": [], "usage": _usage(replies)}))
    events.append(_DONE)
    return events
