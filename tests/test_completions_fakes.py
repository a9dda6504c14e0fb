"""The OpenAI fake's legacy ``/v1/completions``, spoken to directly with the official client: JSON
and SSE ``text_completion`` objects, the usage chunk, OpenAI's refusal of chat models, and the
fault knobs in a stream."""

from __future__ import annotations

import openai
import pytest

from gateway.fakes.run import Fakes

INSTRUCT = "gpt-3.5-turbo-instruct"


def _sdk(fakes: Fakes) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fakes.openai.url}/v1", api_key="sk-test", max_retries=0)


def test_json_and_stream_agree(fakes: Fakes) -> None:
    sdk = _sdk(fakes)
    whole = sdk.completions.create(model=INSTRUCT, prompt="Say hi", max_tokens=100, stop=["fake-openai"])
    assert whole.choices[0].text == "Hello from " and whole.choices[0].finish_reason == "stop"
    chunks = list(sdk.completions.create(model=INSTRUCT, prompt="Say hi", max_tokens=100, stop=["fake-openai"],
                                         stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    plain = list(sdk.completions.create(model=INSTRUCT, prompt="Say hi", stream=True))
    assert all(c.choices and c.usage is None for c in plain)
    assert [c.choices[0].finish_reason for c in plain][-1] == "length"  # OpenAI's default of 16 tokens


def test_chat_models_are_refused_as_openai_does(fakes: Fakes) -> None:
    with pytest.raises(openai.NotFoundError, match="This is a chat model"):
        _sdk(fakes).completions.create(model="gpt-4o-mini", prompt="hi")


def test_stream_fault_knobs(fakes: Fakes) -> None:
    fakes.openai.state.set(INSTRUCT, error_event_after_chunks=1, error_message="boom")
    received = []
    with pytest.raises(openai.APIError, match="boom"):
        for chunk in _sdk(fakes).completions.create(model=INSTRUCT, prompt="hi", max_tokens=50, stream=True):
            received.append(chunk)
    assert len(received) == 1
    fakes.openai.state.set(INSTRUCT, error_event_after_chunks=None, error_message=None, status=503, fail_times=1)
    with pytest.raises(openai.InternalServerError):
        _sdk(fakes).completions.create(model=INSTRUCT, prompt="hi")
    assert _sdk(fakes).completions.create(model=INSTRUCT, prompt="hi").choices
