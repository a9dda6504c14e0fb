"""The fakes' embeddings wire formats, spoken to directly: OpenAI's ``/v1/embeddings`` (and what the
official client makes of it) and Gemini's ``embedContent`` / ``batchEmbedContents``, their
refusals, and the fault knobs acting on them as on chat."""

from __future__ import annotations

import base64
from array import array

import httpx
import openai
import pytest

from gateway.fakes.run import Fakes
from gateway.fakes.vectors import vector

SMALL, ADA, GEMINI = "text-embedding-3-small", "text-embedding-ada-002", "gemini-embedding-001"


def _openai(fakes: Fakes, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fakes.openai.url}/v1", api_key="sk-test", max_retries=0, **kwargs)  # type: ignore[arg-type]


def _gemini(fakes: Fakes, method: str, body: object, model: str = GEMINI, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{fakes.gemini.url}/v1beta/models/{model}:{method}", json=body, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_openai_embeddings_as_the_sdk_reads_them(fakes: Fakes) -> None:
    sdk = _openai(fakes)
    floats = sdk.embeddings.create(model=SMALL, input=["a", "b"], encoding_format="float")
    assert [len(d.embedding) for d in floats.data] == [1536, 1536] and floats.model == SMALL
    assert floats.data[1].embedding == vector("b", 1536)
    encoded = sdk.embeddings.create(model=SMALL, input=["a", "b"], encoding_format="base64")
    assert array("f", base64.b64decode(encoded.data[1].embedding)).tolist() == vector("b", 1536)  # type: ignore[arg-type]
    assert sdk.embeddings.create(model=SMALL, input=["a", "b"]).data[1].embedding == vector("b", 1536)
    large = sdk.embeddings.create(model="text-embedding-3-large", input="a", encoding_format="float")
    assert len(large.data[0].embedding) == 3072 and large.data[0].embedding[:4] != vector("a", 4)
    assert floats.usage.prompt_tokens == 2 and floats.usage.total_tokens == 2


def test_openai_embeddings_refusals(fakes: Fakes) -> None:
    sdk = _openai(fakes)
    with pytest.raises(openai.BadRequestError, match="does not support specifying dimensions"):
        sdk.embeddings.create(model=ADA, input="a", dimensions=8)
    with pytest.raises(openai.BadRequestError, match="between 1 and 1536"):
        sdk.embeddings.create(model=SMALL, input="a", dimensions=1537)
    with pytest.raises(openai.BadRequestError, match="is invalid"):
        sdk.embeddings.create(model=SMALL, input=[])
    fakes.openai.state.set(SMALL, context_window=3)
    with pytest.raises(openai.BadRequestError, match="maximum context length is 3 tokens") as caught:
        sdk.embeddings.create(model=SMALL, input=["short", "a good deal longer than three tokens"])
    assert caught.value.code == "context_length_exceeded"
    fakes.openai.state.set(api_key="sk-right")
    with pytest.raises(openai.AuthenticationError):
        sdk.embeddings.create(model=SMALL, input="a")


def test_openai_embeddings_fault_knobs(fakes: Fakes) -> None:
    sdk = _openai(fakes)
    fakes.openai.state.set(SMALL, status=429, retry_after=7, fail_times=1)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.embeddings.create(model=SMALL, input="a")
    assert caught.value.response.headers["retry-after"] == "7"
    assert sdk.embeddings.create(model=SMALL, input="a").data  # fail_times ran out
    fakes.openai.state.set(SMALL, status=None, fail_times=None, hang=True)
    with pytest.raises(openai.APITimeoutError):
        _openai(fakes, timeout=0.3).embeddings.create(model=SMALL, input="a")
    assert fakes.openai.state.wait_for(lambda: fakes.openai.state.counters.get("hangs") == 1)
    fakes.openai.state.set(SMALL, hang=False, malformed_chunk_at=0)
    resp = httpx.post(f"{fakes.openai.url}/v1/embeddings", json={"model": SMALL, "input": "a"})
    with pytest.raises(ValueError):
        resp.json()  # half a body


def test_gemini_embed_content_and_batch(fakes: Fakes) -> None:
    one = _gemini(fakes, "embedContent", {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 16})
    assert one.status_code == 200 and one.json() == {"embedding": {"values": vector("hi", 16)}}
    batch = _gemini(fakes, "batchEmbedContents", {"requests": [
        {"model": f"models/{GEMINI}", "content": {"parts": [{"text": "hi"}]}},
        {"model": f"models/{GEMINI}", "content": {"parts": [{"text": "there"}]}, "output_dimensionality": 8}]})
    assert batch.status_code == 200
    assert batch.json() == {"embeddings": [{"values": vector("hi", 3072)}, {"values": vector("there", 8)}]}
    assert "usageMetadata" not in batch.json()  # Gemini counts no tokens for embeddings


@pytest.mark.parametrize(("body", "message"), [
    ({"requests": []}, "requests is not specified"),
    ({"requests": [{"model": "models/other", "content": {"parts": [{"text": "x"}]}}]}, f"models/{GEMINI}"),
    ({"requests": [{"model": f"models/{GEMINI}", "content": {"parts": [{"text": "x"}]}}] * 101}, "at most 100"),
    ({"requests": [{"model": f"models/{GEMINI}", "content": {}}]}, "content is not specified"),
    ({"requests": [{"model": f"models/{GEMINI}", "content": {"parts": [{"text": "x"}]},
                    "outputDimensionality": 4000}]}, "between 1 and 3072"),
])
def test_gemini_batch_refusals(fakes: Fakes, body: dict[str, object], message: str) -> None:
    resp = _gemini(fakes, "batchEmbedContents", body)
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert message in resp.json()["error"]["message"]


def test_gemini_embeddings_fault_knobs_and_key(fakes: Fakes) -> None:
    body = {"requests": [{"model": f"models/{GEMINI}", "content": {"parts": [{"text": "x"}]}}]}
    fakes.gemini.state.set(GEMINI, status=429, retry_after=3)
    limited = _gemini(fakes, "batchEmbedContents", body)
    assert limited.status_code == 429 and limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert limited.headers["retry-after"] == "3"
    fakes.gemini.state.set(GEMINI, status=None, retry_after=None, context_window=1)
    too_long = _gemini(fakes, "batchEmbedContents", {"requests": [
        {"model": f"models/{GEMINI}", "content": {"parts": [{"text": "longer than one token"}]}}]})
    assert too_long.status_code == 400 and "exceeds the maximum number of tokens" in too_long.json()["error"]["message"]
    fakes.gemini.state.set(api_key="AIza-right")
    assert _gemini(fakes, "batchEmbedContents", body).status_code == 403
    assert _gemini(fakes, "batchEmbedContents", body, headers={"x-goog-api-key": "AIza-right"}).status_code == 200
