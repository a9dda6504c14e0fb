"""Extended thinking for the fake Anthropic server: blocks it signs, and the check of blocks sent back.

A request with ``thinking: {"type": "enabled", "budget_tokens": N}`` (N >= 1024 and below
``max_tokens``, as Anthropic requires) gets a ``thinking`` block with a ``signature`` before its
answer, and a ``redacted_thinking`` block too when the prompt holds Anthropic's documented test
string. Signatures are HMACs under a secret of this fake instance, so a later turn that sends a
thinking block back is accepted only with the very signature issued for that text, as Anthropic
refuses a block whose signature does not match (400). Streams carry the block as
``thinking_delta`` events followed by one ``signature_delta``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from gateway.fakes.replies import split_words, tokens

REDACTED_TRIGGER = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"
MIN_BUDGET = 1024


@dataclass(frozen=True, slots=True)
class Thought:
    """The thinking blocks of one answer, in order."""

    blocks: tuple[dict[str, Any], ...]

    @property
    def output_tokens(self) -> int:
        return sum(tokens(len(b.get("thinking", ""))) for b in self.blocks if b["type"] == "thinking")

    def events(self, first_index: int) -> list[tuple[str, dict[str, Any]]]:
        """(event, data) pairs of the blocks, numbered from ``first_index``."""
        out: list[tuple[str, dict[str, Any]]] = []
        for offset, block in enumerate(self.blocks):
            index = first_index + offset
            if block["type"] == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": piece} for piece in split_words(block["thinking"])]
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
            else:
                start, deltas = dict(block), []
            out.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
            out += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                    for delta in deltas]
            out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        return out


NO_THOUGHT = Thought(())


class Signer:
    """Signs this fake's thinking blocks and checks the ones a client sends back."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def _mac(self, kind: bytes, text: str) -> str:
        digest = hmac.new(self._secret, kind + b"\0" + text.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def thought(self, body: dict[str, Any], last_user_text: str) -> Thought:
        thinking = body.get("thinking")
        if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
            return NO_THOUGHT
        text = f"The user wrote {len(last_user_text)} characters; a short, friendly answer will do."
        blocks: list[dict[str, Any]] = [{"type": "thinking", "thinking": text, "signature": self._mac(b"t", text)}]
        if REDACTED_TRIGGER in last_user_text:
            nonce = secrets.token_hex(16)
            blocks.append({"type": "redacted_thinking", "data": f"{nonce}.{self._mac(b'r', nonce)}"})
        return Thought(tuple(blocks))

    def problem(self, body: dict[str, Any]) -> str | None:
        """Why Anthropic would refuse this request's thinking (its budget, or a block sent back
        that this fake did not sign), or None."""
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_BUDGET:
                return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
            if budget >= body["max_tokens"]:
                return "`max_tokens` must be greater than `thinking.budget_tokens`"
        for i, message in enumerate(body["messages"]):
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list) or message.get("role") != "assistant":
                continue
            for j, block in enumerate(content):
                if isinstance(block, dict) and not self._genuine(block):
                    return f"messages.{i}.content.{j}: Invalid `signature` in `{block['type']}` block"
        return None

    def _genuine(self, block: dict[str, Any]) -> bool:
        if block.get("type") == "thinking":
            text, signature = block.get("thinking"), block.get("signature")
            return (isinstance(text, str) and isinstance(signature, str)
                    and hmac.compare_digest(signature, self._mac(b"t", text)))
        if block.get("type") == "redacted_thinking":
            nonce, _, mac = str(block.get("data", "")).partition(".")
            return hmac.compare_digest(mac, self._mac(b"r", nonce))
        return True
