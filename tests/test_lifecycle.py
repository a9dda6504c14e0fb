"""Model lifecycle over HTTP: deprecated serves with a warning, retired goes to its successor
(or 410), ``id@version`` pins a version and the bare id follows the newest active one."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory

MODEL = """
  - id: {id}
    provider: fake-openai
    upstream_model: {upstream}
    version: "{version}"
    status: {status}
    {successor}
    context_window: 100000
    max_output_tokens: 1000
    capabilities: {{reasoning: 5, creativity: 5, precision: 5, speed: 5, context: 5}}
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
"""


@pytest.fixture
def lifecycle_gateway(start_gateway: GatewayFactory, tmp_path: Path, fakes: Fakes) -> BackgroundServer:
    models = [
        ("writer", "writer-v1", "1", "active", None),
        ("writer", "writer-v2", "2", "active", None),
        ("writer", "writer-v3", "3", "retired", None),
        ("old-writer", "old", "1", "deprecated", "writer"),
        ("ancient-writer", "ancient", "1", "retired", "writer"),
        ("lost", "lost", "1", "retired", None),
    ]
    text = f'providers: [{{id: fake-openai, kind: openai-compatible, base_url: "{fakes.openai.url}/v1"}}]\nmodels:'
    for model_id, upstream, version, status, successor in models:
        text += MODEL.format(id=model_id, upstream=upstream, version=version, status=status,
                             successor=f"successor: {successor}" if successor else "")
    (tmp_path / "models.yaml").write_text(text)
    return start_gateway(tmp_path)


def _ask(gateway: BackgroundServer, model: str):  # type: ignore[no-untyped-def]
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    return client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi"}])


def test_bare_id_follows_the_newest_active_version(lifecycle_gateway: BackgroundServer, fakes: Fakes) -> None:
    raw = _ask(lifecycle_gateway, "writer")
    assert raw.headers["x-grove-model"] == "writer@2"
    assert fakes.openai.state.requests[-1].body["model"] == "writer-v2"


def test_version_pin(lifecycle_gateway: BackgroundServer, fakes: Fakes) -> None:
    assert _ask(lifecycle_gateway, "writer@1").headers["x-grove-model"] == "writer@1"
    assert fakes.openai.state.requests[-1].body["model"] == "writer-v1"


def test_deprecated_serves_with_a_header_naming_the_successor(lifecycle_gateway: BackgroundServer) -> None:
    raw = _ask(lifecycle_gateway, "old-writer")
    assert raw.headers["x-grove-model"] == "old-writer@1"
    assert raw.headers["x-grove-deprecation"] == "model old-writer is deprecated; use writer"


def test_retired_goes_to_its_successor(lifecycle_gateway: BackgroundServer) -> None:
    raw = _ask(lifecycle_gateway, "ancient-writer")
    assert raw.headers["x-grove-model"] == "writer@2"


def test_retired_without_successor_is_410(lifecycle_gateway: BackgroundServer) -> None:
    resp = httpx.post(f"{lifecycle_gateway.url}/v1/chat/completions",
                      json={"model": "lost", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 410
    error = resp.json()["error"]
    assert error["code"] == "model_retired" and "retired" in error["message"] and error["param"] == "model"


def test_models_list_hides_retired_models(lifecycle_gateway: BackgroundServer) -> None:
    client = openai.OpenAI(base_url=f"{lifecycle_gateway.url}/v1", api_key="x", max_retries=0)
    ids = {m.id for m in client.models.list()}
    assert {"writer", "old-writer", "auto"} <= ids
    assert not {"lost", "ancient-writer"} & ids
    assert client.models.retrieve("writer@1").id == "writer@1"
