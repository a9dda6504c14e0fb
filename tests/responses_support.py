"""A config for the Responses tests: every provider kind, plus a chat-only OpenAI-compatible one."""

from __future__ import annotations

from pathlib import Path

import openai

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes

NATIVE = "gpt-4.1-mini"  # fake-openai serves /v1/responses (responses_api: true)
CHAT_ONLY = "vllm-chat"  # the same fake, declared chat-only: translated through chat
ANTHROPIC = "claude-sonnet-4-5"
GEMINI = "gemini-2.5-flash"
MODELS = (NATIVE, CHAT_ONLY, ANTHROPIC, GEMINI)
EMBEDDING = "text-embed"

CONFIG = """\
providers:
  - {{id: fake-openai, kind: openai-compatible, base_url: "{openai}/v1", responses_api: true{extra}}}
  - {{id: fake-vllm, kind: openai-compatible, base_url: "{openai}/v1"{extra}}}
  - {{id: fake-anthropic, kind: anthropic, base_url: "{anthropic}"}}
  - {{id: fake-gemini, kind: gemini, base_url: "{gemini}"}}
models:
  - {{id: gpt-4.1-mini, provider: fake-openai, context_window: 1047576, max_output_tokens: 8192, capabilities: {{reasoning: 7, creativity: 7, precision: 7, speed: 8, context: 8}}, supports: {{tools: true, vision: true, json: true, streaming: true}},
     prices: {{input_per_mtok: 0.40, output_per_mtok: 1.60}}}}
  - {{id: vllm-chat, provider: fake-vllm, upstream_model: served-llama, context_window: 131072, max_output_tokens: 8192, capabilities: {{reasoning: 7, creativity: 7, precision: 7, speed: 8, context: 8}}, supports: {{tools: true, vision: true, json: true, streaming: true}},
     prices: {{input_per_mtok: 0.10, output_per_mtok: 0.20}}}}
  - {{id: claude-sonnet-4-5, provider: fake-anthropic, context_window: 200000, max_output_tokens: 8192, capabilities: {{reasoning: 7, creativity: 7, precision: 7, speed: 8, context: 8}}, supports: {{tools: true, vision: true, json: true, streaming: true}},
     prices: {{input_per_mtok: 3.00, output_per_mtok: 15.00}}}}
  - {{id: gemini-2.5-flash, provider: fake-gemini, context_window: 1048576, max_output_tokens: 8192, capabilities: {{reasoning: 7, creativity: 7, precision: 7, speed: 8, context: 8}}, supports: {{tools: true, vision: true, json: true, streaming: true}},
     prices: {{input_per_mtok: 0.30, output_per_mtok: 2.50}}}}
  - {{id: text-embed, provider: fake-openai, mode: embedding, dimensions: 1536, context_window: 8192, max_output_tokens: 1,
     capabilities: {{reasoning: 0, creativity: 0, precision: 0, speed: 9, context: 3}},
     prices: {{input_per_mtok: 0.02, output_per_mtok: 0.0}}}}
routes:
  - {{name: default, models: [gpt-4.1-mini, claude-sonnet-4-5, gemini-2.5-flash]}}
  - {{name: chat-first, models: [vllm-chat, gemini-2.5-flash]}}
{keys}"""


def write_config(directory: Path, fakes: Fakes, *, openai_extra: str = "", keys: str = "") -> Path:
    (directory / "grove.yaml").write_text(CONFIG.format(
        openai=fakes.openai.url, anthropic=fakes.anthropic.url, gemini=fakes.gemini.url, extra=openai_extra,
        keys=keys))
    return directory


def client(gateway: BackgroundServer | str, key: str = "x") -> openai.OpenAI:
    url = gateway if isinstance(gateway, str) else gateway.url
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
