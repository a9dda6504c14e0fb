"""OpenAI's text-or-tokens inputs (embeddings' ``input``, legacy completions' ``prompt``), checked
once, and what routing and limits read of them.

The four shapes OpenAI accepts: a string, an array of strings, an array of token ids (one input),
an array of token arrays. Anything else is a 400 naming the field. Token counts: an array's length
exactly; a string's by ``gateway.routing.tokens`` (an estimate, no tokenizer on the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest
from gateway.routing import tokens

VIEW_TOKENS_MAX = 300_000
"""The most tokens of token arrays the view stands in for (OpenAI's limit per embeddings request):
the stand-in text stays within 1.2 MB however many ids a body holds; the upstream's count settles
the real number."""
SCHEMA = {"anyOf": [
    {"type": "string"}, {"type": "array", "items": {"type": "string"}},
    {"type": "array", "items": {"type": "integer"}},
    {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}]}
"""The JSON Schema of an input (``prompt``, ``input``): text or token ids, one or many."""
_SHAPES = "a string, an array of strings, an array of token ids (integers) or an array of token arrays"


@dataclass(frozen=True, slots=True)
class Inputs:
    """One request's inputs: ``texts`` or ``token_arrays`` (the other is empty)."""

    texts: tuple[str, ...] = ()
    token_arrays: tuple[list[int], ...] = ()

    @property
    def count(self) -> int:
        return len(self.texts) or len(self.token_arrays)

    def item_tokens(self) -> list[int]:
        """Tokens of each input: exact for token arrays, estimated for text."""
        if self.token_arrays:
            return [len(array) for array in self.token_arrays]
        return [int(tokens.text_tokens(text) + 0.999) for text in self.texts]

    def view_messages(self) -> list[dict[str, Any]]:
        """The inputs as one chat message, for the chat-shaped view routing and limits read: its
        estimate is the inputs' (token arrays stand in as blank text of the same token count).
        One text, not a part per input: reading 100 parts cost routing ~130 µs, one text ~10."""
        if self.token_arrays:
            size = min(sum(len(array) for array in self.token_arrays), VIEW_TOKENS_MAX)
            text = " " * int(size * tokens.CHARS_PER_TOKEN)
        else:
            text = self.texts[0] if len(self.texts) == 1 else "\n".join(self.texts)
        return [{"role": "user", "content": text}]


def parse_inputs(value: object, param: str, *, empty_text: bool, max_items: int | None = None) -> Inputs:
    """``value`` in one of the four shapes, or InvalidRequest naming ``param``. ``empty_text``:
    whether an empty string is a valid input (a prompt may be; an embedding input may not)."""
    if isinstance(value, str):
        if not value and not empty_text:
            raise _empty(param)
        return Inputs(texts=(value,))
    if not isinstance(value, list):
        raise _shape(param, value)
    if not value:
        raise _empty(param)
    first = value[0]
    if max_items is not None and len(value) > max_items and not _is_token(first):  # a token array is one input
        raise InvalidRequest(f"Invalid value for '{param}': at most {max_items} inputs per request, got "
                             f"{len(value)}.", param=param, code="invalid_value")
    if isinstance(first, str):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise _shape(f"{param}[{index}]", item, param)
            if not item and not empty_text:
                raise _empty(f"{param}[{index}]", param)
        return Inputs(texts=tuple(value))
    if _is_token(first):
        _check_tokens(value, param)
        return Inputs(token_arrays=(value,))
    if isinstance(first, list):
        for index, item in enumerate(value):
            if not isinstance(item, list):
                raise _shape(f"{param}[{index}]", item, param)
            if not item:
                raise _empty(f"{param}[{index}]", param)
            _check_tokens(item, param, f"{param}[{index}]")
        return Inputs(token_arrays=tuple(value))
    raise _shape(f"{param}[0]", first, param)


def inputs_of(value: object) -> Inputs:
    """``Inputs`` of a value ``parse_inputs`` already accepted, without checking it again (a
    translator's, per attempt)."""
    if isinstance(value, str):
        return Inputs(texts=(value,))
    assert isinstance(value, list) and value
    if isinstance(value[0], str):
        return Inputs(texts=tuple(value))
    if isinstance(value[0], list):
        return Inputs(token_arrays=tuple(value))
    return Inputs(token_arrays=(value,))


def _is_token(value: object) -> bool:
    return type(value) is int and value >= 0  # noqa: E721 - bool is an int subclass, and no token


def _check_tokens(array: list[Any], param: str, where: str | None = None) -> None:
    where = where or param
    for index, token in enumerate(array):
        if not _is_token(token):
            raise InvalidRequest(f"Invalid value for '{where}[{index}]': a token id must be a non-negative "
                                 f"integer. '{param}' must be {_SHAPES}.", param=param, code="invalid_type")


def _shape(where: str, value: object, param: str | None = None) -> InvalidRequest:
    kind = "null" if value is None else type(value).__name__
    return InvalidRequest(f"Invalid type for '{where}': got {kind}; '{param or where}' must be {_SHAPES}.",
                          param=param or where, code="invalid_type")


def _empty(where: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{where}': it must not be empty.", param=param or where,
                          code="invalid_value")
