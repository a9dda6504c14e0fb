"""The fake Gemini server's embeddings, in the Generative Language REST wire format.

``POST /v1beta/models/{model}:embedContent`` (``{"content": {"parts": [...]}}`` →
``{"embedding": {"values": [...]}}``) and ``:batchEmbedContents`` (``{"requests": [...]}``, each
naming ``models/{model}`` as the URL does, at most 100 → ``{"embeddings": [{"values": [...]}]}``).
``outputDimensionality`` shortens the vectors (``vectors.py``); like the real API the answer
carries no token counts. The ``context_window`` knob is the limit per input. The fault knobs act
as on generateContent. Routed here by ``gemini_fake``.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.responses import Response

from gateway import jsonio
from gateway.fakes.exchange import Exchange, decide_faults
from gateway.fakes.knobs import FakeState, Knobs
from gateway.fakes.replies import tokens
from gateway.fakes.vectors import native_dimensions, vector

METHODS = frozenset({"embedContent", "batchEmbedContents"})
MAX_BATCH = 100
FAILURE_STATUS = 503


class _Fake(Protocol):
    state: FakeState

    def _error(self, knobs: Knobs, status: int, message: str) -> Exchange: ...


def embed(fake: _Fake, body: Any, ok: bool, model: str, method: str, knobs: Knobs) -> Response:
    """Answer one embedContent or batchEmbedContents request whose key was accepted."""
    if not ok or not isinstance(body, dict):
        return fake._error(knobs, 400, "Invalid JSON payload received. Unexpected token.")
    if method == "embedContent":
        requests = [body]
    else:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return fake._error(knobs, 400, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
        if len(requests) > MAX_BATCH:
            return fake._error(knobs, 400, f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests "
                               "can be in one batch\n")
    texts: list[str] = []
    sizes: list[int] = []
    native = native_dimensions(model)
    for index, item in enumerate(requests):
        where = "EmbedContentRequest" if method == "embedContent" else f"BatchEmbedContentsRequest.requests[{index}]"
        if not isinstance(item, dict):
            return fake._error(knobs, 400, f"* {where}: must be an object\n")
        named = item.get("model")
        if method == "batchEmbedContents" and named != f"models/{model}":
            return fake._error(knobs, 400, f"* {where}.model: the model of each request must be the model of the "
                               f"URL, models/{model}\n")
        content = item.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
            return fake._error(knobs, 400, f"* {where}.content: content is not specified\n")
        text = " ".join(p["text"] for p in parts if isinstance(p.get("text"), str))
        size = item.get("outputDimensionality", item.get("output_dimensionality"))
        if size is None:
            size = native
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= native:
            return fake._error(knobs, 400, f"* {where}.output_dimensionality: must be between 1 and {native}\n")
        texts.append(text)
        sizes.append(size)
    faults = decide_faults(fake.state, model, knobs, stream=False, failure_status=FAILURE_STATUS)
    if faults.hang:
        return Exchange(fake.state, knobs, hang=True)
    if faults.status is not None:
        return fake._error(knobs, faults.status, knobs.error_message or _stock(faults.status))
    longest = max(tokens(len(text)) for text in texts)
    if knobs.context_window is not None and longest > knobs.context_window:
        return fake._error(knobs, 400, f"The input token count ({longest}) exceeds the maximum number of tokens "
                           f"allowed ({knobs.context_window}).")
    vectors = [{"values": vector(text, size)} for text, size in zip(texts, sizes)]
    answer = {"embedding": vectors[0]} if method == "embedContent" else {"embeddings": vectors}
    return Exchange(fake.state, knobs, headers=[("content-type", "application/json; charset=UTF-8")],
                    body=jsonio.dumps(answer), faults=faults.active)


def _stock(status: int) -> str:
    if status == 429:
        return "Resource has been exhausted (e.g. check quota)."
    if status < 500:
        return "Request contains an invalid argument."
    return "The model is overloaded. Please try again later."
