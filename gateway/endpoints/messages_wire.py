"""Anthropic Messages requests as the gateway checks them, and their chat-shaped view.

The client's body is parsed with orjson once and validated by pydantic (strict types, as
Anthropic's API is); fields the gateway does not know go upstream as sent. Every problem is an
``InvalidRequest`` whose message starts with the field's path, the way Anthropic words it
(``max_tokens: Field required``). The view (``chat_view``) is what routing, limits and telemetry
read: the messages with their blocks as they are (image and document blocks stand as one
``image_url`` part each, so that the token estimate counts an image rather than its base64),
the system prompt as the first message, and the request's limits, temperature, tools and
``metadata.user_id``. No litellm here: parsing must stay cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import InvalidRequest
from gateway.providers.base import ChatRequest
from gateway.wire import read_object

_STRICT = ConfigDict(strict=True, extra="allow")
_MEDIA_BLOCKS = frozenset({"image", "document"})
_IMAGE_PART: dict[str, Any] = {"type": "image_url"}
# Fields of the view copied from the request when present (max_tokens and stream always are).
_VIEW_FIELDS = ("temperature", "top_p", "tools", "metadata")


class _Block(BaseModel):
    model_config = _STRICT
    type: Annotated[str, Field(min_length=1)]


class _Message(BaseModel):
    model_config = _STRICT
    role: Literal["user", "assistant"]
    content: str | list[_Block]


class _Tool(BaseModel):
    model_config = _STRICT
    name: Annotated[str, Field(min_length=1, max_length=128)]


class _ToolChoice(BaseModel):
    model_config = _STRICT
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class _Thinking(BaseModel):
    model_config = _STRICT
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: Annotated[int, Field(ge=1)] | None = None


class _Metadata(BaseModel):
    model_config = _STRICT
    user_id: str | None = None


class MessagesRequest(BaseModel):
    """Anthropic's Messages request as the gateway checks it; other fields go upstream as sent."""

    model_config = _STRICT
    model: Annotated[str, Field(min_length=1, max_length=256)]
    max_tokens: Annotated[int, Field(ge=1)]
    messages: Annotated[list[_Message], Field(min_length=1)]
    system: str | list[_Block] | None = None
    stream: bool | None = None
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    stop_sequences: list[str] | None = None
    tools: list[_Tool] | None = None
    tool_choice: _ToolChoice | None = None
    thinking: _Thinking | None = None
    metadata: _Metadata | None = None


class CountTokensRequest(BaseModel):
    """``POST /v1/messages/count_tokens``: a Messages request without ``max_tokens`` and streaming."""

    model_config = _STRICT
    model: Annotated[str, Field(min_length=1, max_length=256)]
    messages: Annotated[list[_Message], Field(min_length=1)]
    system: str | list[_Block] | None = None
    tools: list[_Tool] | None = None
    tool_choice: _ToolChoice | None = None
    thinking: _Thinking | None = None


def parse_messages_request(raw: bytes, headers: Mapping[str, str] | None = None) -> ChatRequest:
    """``headers``: the client's, kept on the request (anthropic-version and -beta go upstream)."""
    body, parsed = _validated(raw, MessagesRequest)
    assert isinstance(parsed, MessagesRequest)
    stream = bool(parsed.stream)
    return ChatRequest(body=chat_view(body, stream), raw=raw, model=parsed.model, stream=stream,
                       include_usage=False, endpoint="messages", source=body, headers=headers)


def parse_count_tokens_request(raw: bytes) -> ChatRequest:
    body, _ = _validated(raw, CountTokensRequest)
    return ChatRequest(body=chat_view(body, False), raw=raw, model=str(body["model"]), stream=False,
                       include_usage=False, endpoint="messages", source=body)


def chat_view(body: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The chat-shaped view of a validated Messages body (see the module docstring)."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _content(system)})
    messages.extend({"role": m["role"], "content": _content(m["content"])} for m in body["messages"])
    view: dict[str, Any] = {"model": body["model"], "messages": messages, "stream": stream}
    if "max_tokens" in body:
        view["max_tokens"] = body["max_tokens"]
    for name in _VIEW_FIELDS:
        value = body.get(name)
        if value is not None:
            view[name] = value
    return view


def _content(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(content, str) or not any(block.get("type") in _MEDIA_BLOCKS for block in content):
        return content
    return [_IMAGE_PART if block.get("type") in _MEDIA_BLOCKS else block for block in content]


def _validated(raw: bytes, model: type[BaseModel]) -> tuple[dict[str, Any], BaseModel]:
    body = read_object(raw)  # not JSON, too deep, not an object, a key twice: the 400 that says so
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    _check(parsed)
    return body, parsed


def _check(parsed: BaseModel) -> None:
    """What the field types alone do not say."""
    choice: _ToolChoice | None = getattr(parsed, "tool_choice", None)
    if choice is not None and choice.type == "tool" and not choice.name:
        raise InvalidRequest("tool_choice.name: Field required", param="tool_choice.name")
    thinking: _Thinking | None = getattr(parsed, "thinking", None)
    if thinking is not None and thinking.type == "enabled" and thinking.budget_tokens is None:
        raise InvalidRequest("thinking.enabled.budget_tokens: Field required", param="thinking.budget_tokens")


def _param(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f".{part}" if out else str(part)
        elif part in ("str", "int", "float", "bool") or "[" in part or part.startswith("_"):
            continue  # union branch labels, not part of the client's path
        else:
            out += f".{part}" if out else part
    return out


def _invalid(exc: ValidationError) -> InvalidRequest:
    errors = exc.errors(include_url=False, include_input=False)
    # Of a union's branches the one that got furthest says best what is wrong (a block without a
    # type, rather than "content should be a string").
    first = max(errors, key=lambda error: len(error["loc"]))
    param = _param(tuple(first["loc"]))
    detail = "Field required" if first["type"] == "missing" else first["msg"].rstrip(".")
    message = f"{param}: {detail}"
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in the request)"
    code = "missing_required_parameter" if first["type"] == "missing" else "invalid_value"
    return InvalidRequest(message, param=param, code=code)
