"""The client-facing wire: OpenAI chat-completions requests, parsed once and validated.

The body is parsed with orjson exactly once; pydantic validates the parsed object
(strict types, as OpenAI's API is) without building a second copy that the rest of
the request would use. Every problem becomes a 400 in OpenAI's error shape naming
the offending parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway import jsonio
from gateway.errors import InvalidRequest
from gateway.providers.base import ChatRequest

_STRICT = ConfigDict(strict=True, extra="allow")


class _ImageURL(BaseModel):
    model_config = _STRICT
    url: Annotated[str, Field(min_length=1)]


class _ContentPart(BaseModel):
    model_config = _STRICT
    type: Annotated[str, Field(min_length=1)]
    text: str | None = None
    image_url: _ImageURL | None = None


class _Function(BaseModel):
    model_config = _STRICT
    name: Annotated[str, Field(min_length=1, max_length=64)]


class _ToolCall(BaseModel):
    model_config = _STRICT
    id: str
    type: Literal["function"]
    function: dict[str, Any]


class _Message(BaseModel):
    model_config = _STRICT
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[_ContentPart] | None = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None


class _Tool(BaseModel):
    model_config = _STRICT
    type: Literal["function"]
    function: _Function


class _StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool | None = None


class _ResponseFormat(BaseModel):
    model_config = _STRICT
    type: Literal["text", "json_object", "json_schema"]


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completions request as the gateway checks it; other fields go upstream as sent."""

    model_config = _STRICT
    model: Annotated[str, Field(min_length=1, max_length=256)]
    messages: Annotated[list[_Message], Field(min_length=1)]
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    stop: str | list[str] | None = None
    tools: list[_Tool] | None = None
    response_format: _ResponseFormat | None = None


def read_object(raw: bytes) -> dict[str, Any]:
    """A client's body as a JSON object, or the 400 that says what is wrong with it: not JSON,
    nested too deep, not an object, or a top-level key given twice (named as the ``param``)."""
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.", code="invalid_json")
    try:
        body = jsonio.loads_request(raw)
    except jsonio.JSONDecodeError as exc:
        raise InvalidRequest(
            f"We could not parse the JSON body of your request ({_json_reason(exc)}). "
            "The body must be a JSON object encoded as UTF-8.",
            code="invalid_json",
        ) from None
    except jsonio.DuplicateKey as exc:
        raise InvalidRequest(f"The request body gives '{exc.key}' more than once; give each parameter once.",
                             param=exc.key, code="duplicate_parameter") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return body


_MESSAGES = TypeAdapter(list[_Message])
_SLICE = 1024
"""Messages validated at a time in a very long conversation: pydantic holds the interpreter for
a whole call (100,000 messages: ~0.3 s in one), so a body read in a worker thread would still
stop the event loop that long; in slices, it lets the loop in between."""


M = TypeVar("M", bound=BaseModel)


def read_validated(raw: bytes, model: type[M], required: str | None = None) -> tuple[dict[str, Any], M]:
    """A client's body as a JSON object and as ``model`` validated it, or the 400 naming the
    field; ``required`` names a field that must be given even where its type allows null."""
    body = read_object(raw)
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        raise invalid_request(exc) from None
    if required is not None and required not in body:
        raise InvalidRequest(f"Missing required parameter: '{required}'.", param=required,
                             code="missing_required_parameter")
    return body, parsed


def parse_chat_request(raw: bytes) -> ChatRequest:
    body = read_object(raw)
    messages = body.get("messages")
    try:
        if isinstance(messages, list) and len(messages) > _SLICE:
            _validate_in_slices(messages)
            parsed = ChatCompletionRequest.model_validate({**body, "messages": messages[:1]})  # the rest
        else:
            parsed = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid_request(exc) from None
    if parsed.stream_options is not None and not parsed.stream:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    stream = bool(parsed.stream)
    include_usage = bool(stream and parsed.stream_options and parsed.stream_options.include_usage)
    return ChatRequest(body=body, raw=raw, model=parsed.model, stream=stream, include_usage=include_usage)


def _validate_in_slices(messages: list[Any]) -> None:
    for start in range(0, len(messages), _SLICE):
        try:
            _MESSAGES.validate_python(messages[start:start + _SLICE])
        except ValidationError as exc:
            raise invalid_request(exc, lambda loc, at=start: ("messages", at + int(loc[0]), *loc[1:])) from None


def _json_reason(exc: jsonio.JSONDecodeError) -> str:
    text = str(exc)
    if "recursion" in text.lower() or "depth" in text.lower():
        return "nesting is too deep"
    if "utf-8" in text.lower() or "surrogate" in text.lower():
        return "the body is not valid UTF-8"
    return text.split(":", 1)[0]


def param_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the client names the parameter: ``messages[2].role``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "list[_ContentPart]", "function-after", "int", "float") or "[" in part:
            continue  # union branch labels, not part of the client's path
        else:
            out += f".{part}" if out else part
    return out


def invalid_request(exc: ValidationError,
                    where: Callable[[tuple[int | str, ...]], tuple[int | str, ...]] | None = None) -> InvalidRequest:
    """A pydantic validation error as the 400 naming the first offending parameter; ``where``
    maps the error's location to the client's (for a part validated on its own)."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = tuple(first["loc"])
    param = param_path(where(loc) if where is not None else loc)
    kind = first["type"]
    if kind == "missing":
        message = f"Missing required parameter: '{param}'."
        code = "missing_required_parameter"
    else:
        message = f"Invalid value for '{param}': {first['msg'].rstrip('.')}."
        code = "invalid_type" if kind.endswith("_type") else "invalid_value"
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in the request.)"
    return InvalidRequest(message, param=param, code=code)

