"""Deterministic replies and token counts, shared by the three fakes.

Each fake reduces its provider's request to a ``Prompt`` and gets a ``Reply`` back:
the same request always gets the same text, tool call, finish reason and token
counts, streamed or not. Streams are cut from the very same text (``pieces``), so
the concatenated stream equals the non-stream reply exactly.

Token counts are a cheap stand-in for a tokenizer: one token per 4 characters of
text (at least 1), plus a flat 85 per image.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Literal

from gateway import jsonio
from gateway.fakes.knobs import Knobs

Finish = Literal["stop", "length", "tool_call", "stop_sequence"]

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 85
QUOTE_CHARS = 200
WORDS_PER_PIECE = 3
ARGUMENT_PIECE_CHARS = 12

_WORD = re.compile(r"\s*\S+\s*")


def tokens(chars: int) -> int:
    return max(1, -(-chars // CHARS_PER_TOKEN))


def new_id(prefix: str, nbytes: int = 12) -> str:
    return prefix + secrets.token_hex(nbytes)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a fake needs to know of a request, whatever the provider's wire shape."""

    provider: str  # "openai", "anthropic" or "gemini"
    model: str
    last_user_text: str
    tool_result: str | None  # set when the conversation ends with a tool result
    chars: int  # all message text: system, user, assistant, tool calls and results
    images: int
    tool_name: str | None  # the tool the reply calls; None when no tool is to be called
    json_mode: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def input_tokens(self) -> int:
        return tokens(self.chars) + IMAGE_TOKENS * self.images


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # empty when the reply is a tool call
    tool_name: str | None
    tool_arguments: str  # JSON text of the call's arguments ("" without a call)
    finish: Finish
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int

    @property
    def pieces(self) -> list[str]:
        """The text as stream deltas: small word groups that concatenate to ``text``."""
        return split_words(self.text)

    @property
    def argument_pieces(self) -> list[str]:
        """The tool arguments as stream fragments that concatenate to ``tool_arguments``."""
        args = self.tool_arguments
        return [args[i : i + ARGUMENT_PIECE_CHARS] for i in range(0, len(args), ARGUMENT_PIECE_CHARS)]


def make_reply(prompt: Prompt, knobs: Knobs) -> Reply:
    if prompt.tool_name is not None:
        arguments = jsonio.dumps(dict(knobs.tool_arguments)).decode()
        return Reply(
            text="",
            tool_name=prompt.tool_name,
            tool_arguments=arguments,
            finish="tool_call",
            stop_sequence=None,
            input_tokens=prompt.input_tokens,
            output_tokens=tokens(len(prompt.tool_name) + len(arguments)),
        )
    text = _text(prompt, knobs)
    finish: Finish = "stop"
    stop_sequence = None
    cut = _first_stop(text, prompt.stop)
    if cut is not None:
        at, stop_sequence = cut
        text, finish = text[:at], "stop_sequence"
    if prompt.max_tokens is not None and tokens(len(text)) > prompt.max_tokens:
        text, finish, stop_sequence = text[: prompt.max_tokens * CHARS_PER_TOKEN], "length", None
    return Reply(
        text=text,
        tool_name=None,
        tool_arguments="",
        finish=finish,
        stop_sequence=stop_sequence,
        input_tokens=prompt.input_tokens,
        output_tokens=tokens(len(text)),
    )


def split_words(text: str) -> list[str]:
    words = _WORD.findall(text)
    if not words:
        return [text] if text else []
    return ["".join(words[i : i + WORDS_PER_PIECE]) for i in range(0, len(words), WORDS_PER_PIECE)]


def _text(prompt: Prompt, knobs: Knobs) -> str:
    if knobs.reply is not None:
        text = knobs.reply
        if prompt.json_mode and not _is_json_object(text):
            return jsonio.dumps({"reply": text}).decode()
        return text
    who = f"Hello from fake-{prompt.provider} ({prompt.model})."
    if prompt.tool_result is not None:
        text = f"{who} Tool said: {prompt.tool_result[:QUOTE_CHARS]}"
    else:
        text = f"{who} You said: {prompt.last_user_text[:QUOTE_CHARS]}"
    return jsonio.dumps({"reply": text}).decode() if prompt.json_mode else text


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(jsonio.loads(text), dict)
    except jsonio.JSONDecodeError:
        return False


def _first_stop(text: str, stops: tuple[str, ...]) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    return best
