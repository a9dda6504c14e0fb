"""The catalog's rules for embedding models: ``dimensions`` required for them and refused for chat
models; a route (any strategy) of one mode, its embedding models of one vector length; a successor
of the same mode; each error at its file, line and key path, from the loader and from
``grove-gateway config check``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.catalog import Catalog, ConfigError, load_catalog
from tests.conftest import REPO

HEAD = """\
providers:
  - {id: openai, kind: openai-compatible, base_url: "https://api.openai.com/v1"}
  - {id: gemini, kind: gemini, base_url: "https://generativelanguage.googleapis.com"}
models:
"""
CAPS = "capabilities: {reasoning: 5, creativity: 5, precision: 5, speed: 5, context: 5}"
PRICES = "prices: {input_per_mtok: 0.02, output_per_mtok: 0}"


def _model(model_id: str, provider: str = "openai", *, mode: str | None = None, dimensions: int | None = None,
           extra: str = "") -> str:
    lines = [f"  - id: {model_id}", f"    provider: {provider}", "    context_window: 8191",
             "    max_output_tokens: 1", f"    {CAPS}", f"    {PRICES}"]
    if mode is not None:
        lines.append(f"    mode: {mode}")
    if dimensions is not None:
        lines.append(f"    dimensions: {dimensions}")
    if extra:
        lines.append(f"    {extra}")
    return "\n".join(lines) + "\n"


MODELS = (_model("small", mode="embedding", dimensions=1536)
          + _model("gem", "gemini", mode="embedding", dimensions=1536)
          + _model("big", mode="embedding", dimensions=3072)
          + _model("chatty"))


def line_of(text: str, snippet: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line of ``text`` that holds ``snippet``."""
    return [i for i, line in enumerate(text.splitlines(), 1) if snippet in line][nth]


def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Catalog.from_yaml_text({"c.yaml": text})
    return [str(issue) for issue in caught.value.issues]


def test_matching_routes_load() -> None:
    catalog = Catalog.from_yaml_text({"c.yaml": HEAD + MODELS + "routes:\n  - {name: emb, models: [small, gem]}\n"})
    assert [(m.id, m.mode, m.dimensions) for m in catalog.models] == [
        ("small", "embedding", 1536), ("gem", "embedding", 1536), ("big", "embedding", 3072), ("chatty", "chat", None)]
    # A chat model's dump has no dimensions key: its content, and the catalog version, are as before.
    assert "dimensions" not in catalog.to_dict()["models"][3]
    assert Catalog.from_dict(catalog.to_dict()) == catalog


def test_dimensions_are_required_for_embedding_models_and_refused_for_chat_models() -> None:
    text = HEAD + _model("e", mode="embedding") + _model("c", dimensions=8) + _model("z", mode="embedding",
                                                                                       dimensions=0)
    found = issues(text)
    assert found == [
        f"c.yaml:{line_of(text, 'id: e')} models[0].dimensions: is required",
        f"c.yaml:{line_of(text, 'dimensions: 8')} models[1].dimensions: is only for embedding models (mode: embedding)",
        f"c.yaml:{line_of(text, 'dimensions: 0')} models[2].dimensions: must be greater than 0",
    ]


def test_a_chain_of_mismatched_dimensions_names_the_route_key_path_and_line() -> None:
    text = HEAD + MODELS + "routes:\n  - name: emb\n    models: [small, gem, big]\n"
    assert issues(text) == [
        f"c.yaml:{line_of(text, 'models: [small, gem, big]')} routes[0].models[2]: 'big' makes vectors of 3072 dimensions but 'small' (models.0) of 1536: "
        "a fallback between them would change the vectors' length",
    ]


def test_a_route_of_mixed_modes_is_refused_in_every_strategy() -> None:
    text = HEAD + MODELS + """routes:
  - {name: mixed, models: [chatty, small]}
  - name: split
    strategy: weighted
    variants:
      - {name: a, weight: 1, models: [gem]}
      - {name: b, weight: 1, models: [chatty]}
  - {name: scored, strategy: capability, models: [small, chatty]}
"""
    found = issues(text)
    assert found == [
        f"c.yaml:{line_of(text, '[chatty, small]')} routes[0].models[1]: 'small' is an embedding model but 'chatty' (models.0) is a chat model: "
        "the models of a route fall back to one another, so they must all be of one mode",
        f"c.yaml:{line_of(text, 'models: [chatty]}')} routes[1].variants[1].models[0]: 'chatty' is a chat model but 'gem' (variants.0.models.0) is an "
        "embedding model: the models of a route fall back to one another, so they must all be of one mode",
        f"c.yaml:{line_of(text, 'name: scored')} routes[2].models[1]: 'chatty' is a chat model but 'small' (models.0) is an embedding model: the "
        "models of a route fall back to one another, so they must all be of one mode",
    ]


def test_a_successor_is_of_the_same_mode() -> None:
    text = HEAD + _model("old", mode="embedding", dimensions=8, extra="successor: chatty") + _model("chatty")
    assert issues(text) == [
        f"c.yaml:{line_of(text, 'successor: chatty')} models[0].successor: 'chatty' is a chat model and 'old' an embedding model: a successor serves in "
        "its place, so it must be of the same mode",
    ]


def test_a_config_with_a_mismatched_embedding_chain_does_not_load(tmp_path: Path) -> None:
    text = HEAD + MODELS + "routes:\n  - {name: emb, models: [big, small]}\n"
    (tmp_path / "models.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    (issue,) = caught.value.issues
    assert str(issue).startswith(f"{tmp_path / 'models.yaml'}:{line_of(text, 'name: emb')} routes[0].models[1]: 'small' makes vectors of 1536")
    assert str(issue).endswith("a fallback between them would change the vectors' length")
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "config", "check", "--config", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and str(issue) in done.stderr.splitlines()
