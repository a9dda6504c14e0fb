"""A fake Gemini server speaking the real Generative Language REST wire format, on loopback.

``POST /v1beta/models/{model}:generateContent`` and ``...:streamGenerateContent``
(``?alt=sse``: ``data:`` events framed with CRLF as Google frames them, each a
GenerateContentResponse, the last one carrying ``finishReason`` and the full
``usageMetadata``; without ``alt=sse``: one JSON array, streamed). Keys come from
``x-goog-api-key`` or ``?key=``. Request fields are read in camelCase or snake_case,
as the real API accepts both. Errors are ``{"error": {"code", "message", "status"}}``.
``:embedContent`` and ``:batchEmbedContents`` are answered by ``gemini_embed.py``.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import jsonio
from gateway.fakes import gemini_embed
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
from gateway.fakes.replies import Prompt, Reply, make_reply, new_id

PROVIDER = "gemini"
FAILURE_STATUS = 503

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_call": "STOP", "stop_sequence": "STOP"}
_MEDIA_PARTS = ("inlineData", "inline_data", "fileData", "file_data")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "models/{model} is not found for API version v1beta, or is not supported for generateContent.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_BAD_KEY = "API key not valid. Please pass a valid API key."
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_SSE_END = b"\r\n\r\n"


def create_gemini_app(state: FakeState | None = None) -> Starlette:
    """The fake's app; its state is ``app.state.fake`` (the one given, or a new one)."""
    state = state if state is not None else FakeState()
    fake = _GeminiFake(state)
    app = FakeApp(
        routes=[Route("/{version}/models/{target:path}", fake.generate, methods=["POST"]), *control_routes(state)]
    )
    app.state.fake = state
    return app


class _GeminiFake:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def generate(self, request: Request) -> Response:
        body, ok = await read_json(request, self.state)
        model, _, method = str(request.path_params["target"]).rpartition(":")
        knobs = self.state.knobs_for(model or None)
        denied = self._auth(request, knobs)
        if denied is not None:
            return denied
        if request.path_params["version"] in ("v1beta", "v1") and model and method in gemini_embed.METHODS:
            return gemini_embed.embed(self, body, ok, model, method, knobs)
        if request.path_params["version"] not in ("v1beta", "v1") or not model or method not in (
            "generateContent",
            "streamGenerateContent",
        ):
            return self._error(knobs, 404, f"Method not found: {request.url.path}")
        if not ok or not isinstance(body, dict):
            return self._error(knobs, 400, "Invalid JSON payload received. Unexpected token.")
        contents = _get(body, "contents")
        if not isinstance(contents, list) or not contents:
            return self._error(knobs, 400, "* GenerateContentRequest.contents: contents is not specified\n")
        stream = method == "streamGenerateContent"
        faults = decide_faults(self.state, model, knobs, stream=stream, failure_status=FAILURE_STATUS)
        if faults.hang:
            return Exchange(self.state, knobs, hang=True)
        if faults.status is not None:
            return self._error(knobs, faults.status, knobs.error_message or _stock_message(faults.status, model))
        prompt = _prompt(body, contents, model)
        if knobs.context_window is not None and prompt.input_tokens > knobs.context_window:
            return self._error(
                knobs,
                400,
                f"The input token count ({prompt.input_tokens}) exceeds the maximum number of tokens "
                f"allowed ({knobs.context_window}).",
            )
        reply = make_reply(prompt, knobs)
        chunks = _chunks(reply, model)
        if stream:
            return self._stream(knobs, faults, chunks, model, sse=request.query_params.get("alt") == "sse")
        return Exchange(
            self.state,
            knobs,
            headers=[("content-type", "application/json; charset=UTF-8")],
            body=jsonio.dumps(_whole(reply, model, chunks[-1]["responseId"])),
            faults=faults.active,
            steps=len(chunks),
        )

    def _stream(self, knobs: Knobs, faults: Faults, chunks: list[dict[str, Any]], model: str, *, sse: bool) -> Exchange:
        status = knobs.status if knobs.status is not None else FAILURE_STATUS
        error = jsonio.dumps(_error_body(status, knobs.error_message or _stock_message(status, model), knobs))
        if sse:
            plan = Stream(
                events=[b"data: " + jsonio.dumps(c) + _SSE_END for c in chunks],
                terminal=1,
                malformed=b'data: {"candidates": [{"content": ' + _SSE_END,
                error_event=b"data: " + error + _SSE_END,
            )
            content_type = "text/event-stream"
        else:
            # Without alt=sse the stream is one JSON array, sent element by element.
            events = [(b"[" if i == 0 else b",\r\n") + jsonio.dumps(c) for i, c in enumerate(chunks)]
            plan = Stream(
                events=[*events, b"]"],
                terminal=1,
                malformed=b',\r\n{"candidates": [{"content": ',
                error_event=b",\r\n" + error + b"]",
            )
            content_type = "application/json; charset=UTF-8"
        return Exchange(self.state, knobs, headers=[("content-type", content_type)], stream=plan, faults=faults.active)

    def _auth(self, request: Request, knobs: Knobs) -> Exchange | None:
        if knobs.api_key is None:
            return None
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            return self._error(knobs, 403, _NO_KEY)
        if key != knobs.api_key:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": _BAD_KEY},
            ]
            return self._error(knobs, 400, _BAD_KEY, details=details)
        return None

    def _error(
        self, knobs: Knobs, status: int, message: str, *, details: list[dict[str, Any]] | None = None
    ) -> Exchange:
        body = _error_body(status, message, knobs, details)
        headers = [("content-type", "application/json; charset=UTF-8"), *retry_after_headers(knobs)]
        return Exchange(self.state, knobs, status=status, headers=headers, body=jsonio.dumps(body))


def _error_body(
    status: int, message: str, knobs: Knobs, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL"),
    }
    details = list(details or ())
    if knobs.retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{knobs.retry_after:g}s"})
    if details:
        error["details"] = details
    return {"error": error}


def _stock_message(status: int, model: str) -> str:
    default = _MESSAGES[400] if status < 500 else _MESSAGES[500]
    return _MESSAGES.get(status, default).replace("{model}", model)


# --- the request ----------------------------------------------------------------


def _get(obj: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase name or its snake_case twin."""
    if camel in obj:
        return obj[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake)


def _prompt(body: dict[str, Any], contents: list[Any], model: str) -> Prompt:
    system = _get(body, "systemInstruction")
    system_text, images, _ = _parts(system.get("parts") if isinstance(system, dict) else None)
    chars = len(system_text)
    last_user = ""
    for content in contents:
        if not isinstance(content, dict):
            continue
        text, media, responses = _parts(content.get("parts"))
        chars += len(text)
        images += media
        if content.get("role", "user") == "user" and not responses:
            last_user = text
    last = contents[-1] if isinstance(contents[-1], dict) else {}
    responses = _parts(last.get("parts"))[2]
    config = _get(body, "generationConfig")
    config = config if isinstance(config, dict) else {}
    max_tokens = _get(config, "maxOutputTokens")
    stops = _get(config, "stopSequences")
    return Prompt(
        provider=PROVIDER,
        model=model,
        last_user_text=last_user,
        tool_result=" ".join(responses) if responses else None,
        chars=chars,
        images=images,
        tool_name=None if responses else _tool_to_call(body),
        json_mode=_get(config, "responseMimeType") == "application/json",
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
        stop=tuple(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else (),
    )


def _parts(parts: object) -> tuple[str, int, list[str]]:
    """The text of some parts (calls and results included), their media count and function responses."""
    texts: list[str] = []
    media = 0
    responses: list[str] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif any(key in part for key in _MEDIA_PARTS):
            media += 1
        elif (call := _get(part, "functionCall")) is not None:
            texts.append(jsonio.dumps(call).decode())
        elif (response := _get(part, "functionResponse")) is not None:
            result = response.get("response") if isinstance(response, dict) else response
            responses.append(jsonio.dumps(result).decode())
            texts.append(responses[-1])
    return " ".join(texts), media, responses


def _tool_to_call(body: dict[str, Any]) -> str | None:
    names: list[str] = []
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        declarations = _get(tool, "functionDeclarations") if isinstance(tool, dict) else None
        for declaration in declarations if isinstance(declarations, list) else ():
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                names.append(declaration["name"])
    tool_config = _get(body, "toolConfig")
    calling = _get(tool_config, "functionCallingConfig") if isinstance(tool_config, dict) else None
    calling = calling if isinstance(calling, dict) else {}
    if not names or str(calling.get("mode", "")).upper() == "NONE":
        return None
    allowed = _get(calling, "allowedFunctionNames")
    if isinstance(allowed, list) and allowed and isinstance(allowed[0], str):
        return allowed[0]
    return names[0]


# --- the answer -----------------------------------------------------------------


def _chunks(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The stream's GenerateContentResponses; the last carries finishReason and the full usage."""
    response_id = new_id("", 10)
    if reply.tool_name:
        part_lists = [[_call_part(reply)]]
    else:
        part_lists = [[{"text": piece}] for piece in reply.pieces] or [[{"text": ""}]]
    partial_usage = {
        "promptTokenCount": reply.input_tokens,
        "totalTokenCount": reply.input_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.input_tokens}],
    }
    chunks = []
    for i, parts in enumerate(part_lists):
        last = i == len(part_lists) - 1
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if last:
            candidate["finishReason"] = _FINISH[reply.finish]
        chunks.append(
            {
                "candidates": [candidate],
                "usageMetadata": _usage(reply) if last else partial_usage,
                "modelVersion": model,
                "responseId": response_id,
            }
        )
    return chunks


def _whole(reply: Reply, model: str, response_id: str) -> dict[str, Any]:
    parts = [_call_part(reply)] if reply.tool_name else [{"text": reply.text}]
    return {
        "candidates": [
            {"content": {"parts": parts, "role": "model"}, "finishReason": _FINISH[reply.finish], "index": 0}
        ],
        "usageMetadata": _usage(reply),
        "modelVersion": model,
        "responseId": response_id,
    }


def _call_part(reply: Reply) -> dict[str, Any]:
    return {"functionCall": {"name": reply.tool_name, "args": jsonio.loads(reply.tool_arguments)}}


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "promptTokenCount": reply.input_tokens,
        "candidatesTokenCount": reply.output_tokens,
        "totalTokenCount": reply.input_tokens + reply.output_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.input_tokens}],
    }
