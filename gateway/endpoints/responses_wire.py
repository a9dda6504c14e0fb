"""The Responses API request as the gateway checks it, and the chat-shaped view routing reads.

The body is parsed with orjson once and checked by pydantic in strict mode (OpenAI's API is
strict about types); a problem is a 400 in OpenAI's shape naming the parameter
(``input[2].call_id``). Fields the gateway does not read go upstream as sent.

``chat_view`` is what routing, limits and telemetry read: instructions and the conversation's
text as chat messages, tools, limits, the response format. It is built with a few dict literals
per item, not by litellm's translation (that runs per attempt, only on the translated path).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import InvalidRequest
from gateway.wire import param_path

_STRICT = ConfigDict(strict=True, extra="allow")
_NonEmpty = Annotated[str, Field(min_length=1)]


class _Part(BaseModel):
    model_config = _STRICT
    type: Literal["input_text", "output_text", "text", "input_image", "input_file", "refusal", "summary_text",
                  "reasoning_text"]
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    file_data: str | None = None


class _Item(BaseModel):
    """Every input item shape in one model; ``_check_item`` holds what each ``type`` requires."""

    model_config = _STRICT
    type: Literal["message", "function_call", "function_call_output", "reasoning"] | None = None
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: str | list[_Part] | None = None
    call_id: _NonEmpty | None = None
    name: _NonEmpty | None = None
    arguments: str | None = None
    output: str | list[_Part] | None = None


class _Tool(BaseModel):
    model_config = _STRICT
    type: Literal["function"]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    parameters: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class _NamedTool(BaseModel):
    model_config = _STRICT
    type: Literal["function"]
    name: _NonEmpty


class _Format(BaseModel):
    model_config = _STRICT
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class _Text(BaseModel):
    model_config = _STRICT
    format: _Format | None = None


class _Reasoning(BaseModel):
    model_config = _STRICT
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


class ResponsesCreate(BaseModel):
    """``POST /v1/responses`` as the gateway checks it."""

    model_config = _STRICT
    model: Annotated[str, Field(min_length=1, max_length=256)]
    input: str | Annotated[list[_Item], Field(min_length=1)]
    instructions: str | None = None
    stream: bool | None = None
    store: bool | None = None
    previous_response_id: _NonEmpty | None = None
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedTool | None = None
    text: _Text | None = None
    reasoning: _Reasoning | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    background: bool | None = None


_REQUIRED: dict[str, tuple[str, ...]] = {
    "message": ("role", "content"),
    "function_call": ("call_id", "name", "arguments"),
    "function_call_output": ("call_id", "output"),
    "reasoning": (),
}


def validate(body: dict[str, Any]) -> ResponsesCreate:
    try:
        parsed = ResponsesCreate.model_validate(body)
    except ValidationError as exc:
        raise _invalid_field(exc) from None
    if parsed.background:
        raise InvalidRequest("'background' responses are not supported by this gateway.", param="background",
                             code="unsupported_parameter")
    if body.get("conversation") is not None:
        raise InvalidRequest("Conversations are not supported by this gateway; use 'previous_response_id'.",
                             param="conversation", code="unsupported_parameter")
    if isinstance(parsed.input, list):
        for index, item in enumerate(parsed.input):
            _check_item(item, index)
    return parsed


def _invalid_field(exc: ValidationError) -> InvalidRequest:
    """The most specific problem first: where a union failed (``input`` a string or a list of
    items), the branch that got furthest names the field, not the string branch."""
    errors = exc.errors(include_url=False, include_input=False)
    first = max(errors, key=lambda e: len(e["loc"]))
    param = param_path(tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("_"))))
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param,
                              code="missing_required_parameter")
    code = "invalid_type" if first["type"].endswith("_type") else "invalid_value"
    return InvalidRequest(f"Invalid value for '{param}': {first['msg'].rstrip('.')}.", param=param, code=code)


def _check_item(item: _Item, index: int) -> None:
    kind = item.type or "message"
    for name in _REQUIRED[kind]:
        if getattr(item, name) is None:
            raise InvalidRequest(f"Missing required parameter: 'input[{index}].{name}'.",
                                 param=f"input[{index}].{name}", code="missing_required_parameter")


def input_items(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The client's ``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return value


# --- the chat-shaped view -----------------------------------------------------------------------


def chat_view(body: dict[str, Any], parsed: ResponsesCreate, items: list[dict[str, Any]]) -> dict[str, Any]:
    """What routing, limits and telemetry read, in chat-completions shape."""
    messages: list[dict[str, Any]] = []
    if parsed.instructions:
        messages.append({"role": "system", "content": parsed.instructions})
    for item in items:
        kind = item.get("type") or "message"
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _view_content(item.get("content"))})
        elif kind == "function_call":
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": item.get("call_id"), "type": "function",
                 "function": {"name": item.get("name"), "arguments": item.get("arguments")}}]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": _view_content(item.get("output"))})
    view: dict[str, Any] = {"model": parsed.model, "messages": messages, "stream": bool(parsed.stream)}
    if parsed.tools:
        view["tools"] = [{"type": "function", "function": {"name": t.name, "parameters": t.parameters or {}}}
                         for t in parsed.tools]
    if parsed.max_output_tokens is not None:
        view["max_tokens"] = parsed.max_output_tokens
    if parsed.temperature is not None:
        view["temperature"] = parsed.temperature
    fmt = parsed.text.format if parsed.text is not None else None
    if fmt is not None and fmt.type != "text":
        view["response_format"] = {"type": fmt.type, "json_schema": fmt.schema_ or {}}
    for name in ("user", "safety_identifier", "metadata"):
        if body.get(name) is not None:
            view[name] = body[name]
    return view


def _view_content(content: object) -> object:
    if not isinstance(content, list):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "input_image":
            parts.append({"type": "image_url"})
        elif isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
    return parts
