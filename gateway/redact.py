"""Keeps secrets out of everything the gateway says: errors, logs, spans.

A text may have been cut short before it gets here (an upstream's error clipped to a bounded
length, a snippet of a body): one that ends with the first characters of a secret has that
tail masked too, so a cut never leaves most of a key behind.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "[redacted]"
_ELLIPSIS = "…"
_MIN_TAIL = 4  # a shorter tail ("sk-") says nothing of the key


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a key that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return self._cut_tail(text) if self._secrets else text

    def _cut_tail(self, text: str) -> str:
        body = text[:-1] if text.endswith(_ELLIPSIS) else text
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(body)), _MIN_TAIL - 1, -1):
                if body.endswith(secret[:size]):
                    return body[:-size] + MASK + text[len(body):]
        return text
