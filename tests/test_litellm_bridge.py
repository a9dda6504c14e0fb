"""litellm_bridge: the quiet, offline litellm load and the helpers the translators share."""

from __future__ import annotations

import logging
import os

import pytest
from openai.types.chat import ChatCompletionChunk

from gateway import jsonio
from gateway.errors import InvalidRequest, UpstreamBadResponse, UpstreamRateLimited
from gateway.providers import litellm_bridge as lb
from gateway.providers.base import Usage


@pytest.fixture(scope="module")
def bridge() -> lb.Bridge:
    return lb.load()


def test_load_is_offline_and_quiet(bridge: lb.Bridge) -> None:
    import litellm

    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert logging.getLogger("LiteLLM").level == logging.CRITICAL
    assert litellm.callbacks == [] and litellm.success_callback == [] and litellm.failure_callback == []
    assert bridge.gemini_files_prefix.startswith("https://generativelanguage.googleapis.com/")
    # A second load reuses the imported modules and hands out an equivalent bridge.
    again = lb.load()
    assert again.anthropic_stream is bridge.anthropic_stream and again.model_response is bridge.model_response


def test_request_errors_become_invalid_request_without_litellm_noise() -> None:
    long_tail = "x" * 1000
    with pytest.raises(InvalidRequest) as caught:
        with lb.translating_request("anthropic"):
            raise ValueError(f"litellm.BadRequestError: bad image\nReceived Messages=[{long_tail}]")
    assert caught.value.message == "the request cannot be translated for anthropic: bad image"
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(InvalidRequest) as caught:
        with lb.translating_request("gemini"):
            raise RuntimeError(long_tail)
    assert len(caught.value.message) < 400


def test_gateway_errors_pass_through_the_guards() -> None:
    original = UpstreamRateLimited("slow down", retry_after=3)
    with pytest.raises(UpstreamRateLimited) as caught:
        with lb.translating_reply("gemini"):
            raise original
    assert caught.value is original


def test_reply_errors_become_bad_upstream_response() -> None:
    with pytest.raises(UpstreamBadResponse, match="malformed reply from gemini: 'candidates'"):
        with lb.translating_reply("gemini"):
            raise KeyError("candidates")


@pytest.mark.parametrize("data", [b"nope", b"[]", b"3", b""])
def test_parse_json_object_insists_on_an_object(data: bytes) -> None:
    with pytest.raises(UpstreamBadResponse, match="not a JSON object"):
        lb.parse_json_object(data, "anthropic")


def test_media_urls_finds_remote_references_outside_text() -> None:
    messages = [
        {"role": "system", "content": "see https://example.com"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "https://example.com/in-text.png"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "file", "file": {"file_id": "gs://bucket/doc.pdf"}},
                {"type": "image_url", "image_url": "http://example.com/b.png"},
            ],
        },
    ]
    assert list(lb.media_urls(messages)) == [
        ("image_url", "https://example.com/a.png"),
        ("file", "gs://bucket/doc.pdf"),
        ("image_url", "http://example.com/b.png"),
    ]
    assert list(lb.media_urls("not a list")) == []


def test_openai_params_keeps_supported_values_only() -> None:
    body = {"model": "m", "messages": [], "stream": True, "temperature": 0.1, "top_p": None, "logit_bias": {}, "stop": "x"}
    supported = ["stream", "temperature", "top_p", "stop", "extra_headers"]
    assert lb.openai_params(body, supported) == {"temperature": 0.1, "stop": "x"}


def test_chunk_shaper_keeps_one_identity_and_sends_the_role_once() -> None:
    shaper = lb.ChunkShaper(model="requested", include_usage=False)
    shaper.identify("upstream-id", "served-model")
    first = shaper.chunk(0, {"content": "Hi"}, None)
    shaper.identify("another-id", "another-model")  # too late: chunks have gone out
    second = shaper.chunk(0, {"content": "!"}, "stop")
    assert shaper.chunk(0, {}, None) is None
    assert first is not None and second is not None
    chunks = [ChatCompletionChunk.model_validate_json(c) for c in (first, second)]
    assert {c.id for c in chunks} == {"upstream-id"} and {c.model for c in chunks} == {"served-model"}
    assert [c.choices[0].delta.role for c in chunks] == ["assistant", None]
    assert "usage" not in jsonio.loads(first)


def test_chunk_shaper_roles_per_choice_and_usage_chunk() -> None:
    shaper = lb.ChunkShaper(model="m", include_usage=True)
    call = {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}
    a = jsonio.loads(shaper.chunk(0, call, None) or b"")
    b = jsonio.loads(shaper.chunk(1, {"content": "x"}, None) or b"")
    assert a["choices"][0]["delta"]["role"] == "assistant" and a["choices"][0]["delta"]["content"] is None
    assert b["choices"][0]["delta"] == {"role": "assistant", "content": "x"}
    assert a["id"] == b["id"] and a["id"].startswith("chatcmpl-") and a["usage"] is None
    closing = ChatCompletionChunk.model_validate_json(shaper.usage_chunk(Usage(10, 4, 2)))
    assert closing.choices == [] and closing.id == a["id"]
    assert closing.usage is not None
    assert (closing.usage.prompt_tokens, closing.usage.completion_tokens, closing.usage.total_tokens) == (10, 4, 14)
    assert closing.usage.prompt_tokens_details is not None and closing.usage.prompt_tokens_details.cached_tokens == 2


def test_usage_json_without_cache_has_no_details() -> None:
    assert lb.usage_json(Usage(3, 4)) == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert lb.usage_from(None) is None
