"""Request features: everything routing needs to know about a request, read once.

``extract_features`` looks at the parsed body and the headers and never at more than a bounded
slice of the prompt's text, so its cost does not grow with a 100k-token prompt beyond one pass
over the message list. Besides the facts (estimated input tokens, requested output, tools,
images, JSON mode, streaming, temperature, an explicit capability hint) it infers what the
request probably needs, from cheap signals:

===========  ==========================================================  ======================
signal       when                                                        adds
===========  ==========================================================  ======================
(baseline)   always                                                      reasoning 1, precision 1
short        under 1,000 input tokens, no tools/JSON/code/math           speed 2
long         32k+ input tokens (huge: 128k+)                             context 2 (huge: 4)
code         a ``` fence, or code punctuation in 4%+ of the slice        reasoning 3, precision 1
math         math words or symbols in the slice                          reasoning 3
structured   tools or JSON mode                                          precision 2
creative     story/poem/brainstorm words in the slice                    creativity 2
hot          temperature 1.0 or more                                     creativity 3
cold         temperature 0.3 or less                                     precision 1
===========  ==========================================================  ======================

The slice is the first 1,200 characters of the last user message and the first 600 of the
system (or developer) prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog_schema import CAPABILITIES
from gateway.routing import tokens
from gateway.routing.hints import Needs, hint_from

SHORT_TOKENS = 1_000
LONG_TOKENS = 32_000
HUGE_TOKENS = 128_000
_USER_SLICE = 1_200
_SYSTEM_SLICE = 600
_CODE_PUNCTUATION = "{}();=<>[]"
_CODE_DENSITY = 0.04
# A leading space keeps "improve" from reading as "prove" and "history" as "story".
_MATH_WORDS = (" prove", "theorem", " equation", " integral", " derivative", " solve ", " lemma", "\\frac", "$$")
_MATH_SYMBOLS = "∫∑√≤≥±∞∂"
_CREATIVE_WORDS = (" story", " stories", " poem", " brainstorm", " slogan", " lyrics")


@dataclass(frozen=True, slots=True)
class Features:
    """What routing knows about one request. ``needs`` vectors are in ``CAPABILITIES`` order."""

    input_tokens: int
    max_tokens: int | None
    """``max_completion_tokens`` (or the older ``max_tokens``) if the client set one."""
    stream: bool = False
    tools: bool = False
    images: int = 0
    json_mode: bool = False
    temperature: float | None = None
    hint: Needs | None = None
    hint_source: str | None = None
    user: str | None = None
    """The end user's id (body ``user`` or ``safety_identifier``, or ``metadata.user_id``)."""
    text: str = field(default="", repr=False, compare=False)
    """The bounded slice of prompt text that inference reads."""
    _inference: list[tuple[Needs, tuple[str, ...]]] = field(default_factory=list, repr=False, compare=False)

    # Inference reads the prompt slice; only the capability strategy needs it, so it runs on
    # first use (and at most once) rather than for every request.
    @property
    def inferred(self) -> Needs:
        return self._infer()[0]

    @property
    def signals(self) -> tuple[str, ...]:
        return self._infer()[1]

    def _infer(self) -> tuple[Needs, tuple[str, ...]]:
        if not self._inference:
            self._inference.append(_infer(self.input_tokens, self.text, self.tools or self.json_mode,
                                          self.temperature))
        return self._inference[0]

    def to_dict(self) -> dict[str, Any]:
        inferred = {"inferred": needs_dict(self.inferred), "signals": list(self.signals)} if self._inference else {}
        return {
            "input_tokens": self.input_tokens,
            "max_tokens": self.max_tokens,
            "stream": self.stream,
            "tools": self.tools,
            "images": self.images,
            "json_mode": self.json_mode,
            "temperature": self.temperature,
            "hint": None if self.hint is None else needs_dict(self.hint),
            "hint_source": self.hint_source,
            **inferred,
            "user": self.user,
        }


def needs_dict(needs: Needs) -> dict[str, float]:
    return dict(zip(CAPABILITIES, needs))


def extract_features(body: Mapping[str, Any], headers: Mapping[str, str]) -> Features:
    """Features of a parsed chat-completions body. ``headers`` must look names up in lower case
    (Starlette's headers do, case-insensitively). Raises InvalidRequest for a malformed hint."""
    hint, hint_source = hint_from(body, headers)
    messages = body.get("messages")
    total = float(tokens.REPLY_PRIMING_TOKENS)
    images = 0
    last_user: object = None
    system: object = None
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            continue
        counted, seen = tokens.message_tokens(message)
        total += counted
        images += seen
        role = message.get("role")
        if role == "user":
            last_user = message.get("content")
        elif role in ("system", "developer") and system is None:
            system = message.get("content")
    tools = bool(body.get("tools") or body.get("functions"))
    if tools:
        total += tokens.json_tokens(body.get("tools") or body.get("functions"))
    response_format = body.get("response_format")
    json_mode = isinstance(response_format, Mapping) and response_format.get("type") in ("json_object", "json_schema")
    if json_mode:
        total += tokens.json_tokens(response_format)
    temperature = body.get("temperature")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        temperature = None
    input_tokens = int(total + 0.5)
    return Features(
        input_tokens=input_tokens,
        max_tokens=_max_tokens(body),
        stream=body.get("stream") is True,
        tools=tools,
        images=images,
        json_mode=json_mode,
        temperature=None if temperature is None else float(temperature),
        hint=hint,
        hint_source=hint_source,
        user=_user(body),
        text=_slice(last_user, _USER_SLICE) + "\n" + _slice(system, _SYSTEM_SLICE),
    )


def _infer(input_tokens: int, text: str, structured: bool, temperature: float | None) -> tuple[Needs, tuple[str, ...]]:
    reasoning, creativity, precision, speed, context = 1.0, 0.0, 1.0, 0.0, 0.0
    signals: list[str] = []
    low = " " + text.lower().replace("\n", " ")
    code = "```" in low or _punctuation(low) >= _CODE_DENSITY * max(len(low), 1)
    math = any(ch in low for ch in _MATH_SYMBOLS) or any(word in low for word in _MATH_WORDS)
    if input_tokens >= LONG_TOKENS:
        signals.append("long")
        context += 4.0 if input_tokens >= HUGE_TOKENS else 2.0
    elif input_tokens < SHORT_TOKENS and not (structured or code or math):
        signals.append("short")
        speed += 2.0
    if code:
        signals.append("code")
        reasoning += 3.0
        precision += 1.0
    if math:
        signals.append("math")
        reasoning += 3.0
    if structured:
        signals.append("structured")
        precision += 2.0
    if any(word in low for word in _CREATIVE_WORDS):
        signals.append("creative")
        creativity += 2.0
    if temperature is not None and temperature >= 1.0:
        signals.append("hot")
        creativity += 3.0
    elif temperature is not None and temperature <= 0.3:
        signals.append("cold")
        precision += 1.0
    cap = 10.0
    needs = (min(reasoning, cap), min(creativity, cap), min(precision, cap), min(speed, cap), min(context, cap))
    return needs, tuple(signals)


def _punctuation(text: str) -> int:
    return sum(text.count(ch) for ch in _CODE_PUNCTUATION)


def _slice(content: object, limit: int) -> str:
    if isinstance(content, str):
        return content[:limit]
    if isinstance(content, list):
        texts = []
        size = 0
        for part in content:
            text = part.get("text") if isinstance(part, Mapping) else None
            if isinstance(text, str):
                texts.append(text[: limit - size])
                size += len(texts[-1])
                if size >= limit:
                    break
        return "\n".join(texts)
    return ""


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _user(body: Mapping[str, Any]) -> str | None:
    for name in ("user", "safety_identifier"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    metadata = body.get("metadata")
    value = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and value else None
