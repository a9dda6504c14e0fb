"""Names the gateway's telemetry uses: OpenTelemetry semantic conventions, and its own ``grove.*``.

The GenAI names follow the GenAI semantic conventions (development status, as of the
``semantic-conventions-genai`` repository): ``gen_ai.provider.name`` (not the deprecated
``gen_ai.system``), the inference span ``{gen_ai.operation.name} {gen_ai.request.model}`` of kind
CLIENT, and the client metrics with the spec's explicit bucket boundaries. HTTP names follow the
stable HTTP server conventions.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

# --- GenAI attributes ---------------------------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
OPERATION_CHAT = "chat"
OPERATION_EMBEDDINGS = "embeddings"
OPERATION_TEXT_COMPLETION = "text_completion"

# --- general and HTTP attributes ----------------------------------------------------------------
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
CLIENT_ADDRESS = "client.address"
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL = "http.request.method_original"
HTTP_ROUTE = "http.route"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
URL_PATH = "url.path"
URL_SCHEME = "url.scheme"
NETWORK_PROTOCOL_VERSION = "network.protocol.version"
USER_AGENT_ORIGINAL = "user_agent.original"
HTTP_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})

# --- the gateway's own --------------------------------------------------------------------------
GROVE_REQUEST_ID = "grove.request.id"
GROVE_ENDPOINT = "grove.endpoint"
GROVE_REQUEST_MODEL = "grove.request.model"
"""The ``model`` the client sent: a model id, a route name or ``auto``."""
GROVE_ROUTE_NAME = "grove.route.name"
GROVE_ROUTE_STRATEGY = "grove.route.strategy"
GROVE_ROUTE_RULE = "grove.route.rule"
GROVE_ROUTE_VARIANT = "grove.route.variant"
GROVE_ROUTE_CANDIDATES = "grove.route.candidates"
GROVE_ROUTE_CHAIN = "grove.route.chain"
GROVE_ROUTE_EXCLUSIONS = "grove.route.exclusions"
"""``deployment=check`` for each deployment routing left out."""
GROVE_COMPONENT = "grove.component"
GROVE_DECISION_ID = "grove.decision.id"
GROVE_CONFIG_VERSION = "grove.config.version"
GROVE_DEPLOYMENT = "grove.deployment"
GROVE_PROVIDER_ID = "grove.provider.id"
GROVE_MODEL = "grove.model"
"""The deployment (``id@version``) that served the request."""
GROVE_ATTEMPT = "grove.attempt"
GROVE_ATTEMPTS = "grove.attempts"
GROVE_FALLBACK_REASON = "grove.fallback.reason"
"""Why the attempt before this one, on another deployment, failed or was skipped."""
GROVE_RETRY_REASON = "grove.retry.reason"
"""Why the attempt before this one, on the same deployment, failed."""
GROVE_BREAKER_STATE = "grove.breaker.state"
GROVE_COST_USD = "grove.cost.usd"
GROVE_KEY = "grove.key"
"""The client key's configured name (never the key)."""
GROVE_STREAM_CANCELLED = "grove.stream.cancelled"

# --- metrics ------------------------------------------------------------------------------------
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_REQUESTS = "grove.requests"
METRIC_FALLBACKS = "grove.fallbacks"
METRIC_BREAKER_STATE = "grove.breaker.state"
METRIC_COST = "grove.cost.usd"
METRIC_OVERHEAD = "grove.gateway.overhead"

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
"""Seconds: ``gen_ai.client.operation.duration`` and ``..time_to_first_chunk`` (the spec's)."""
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
"""Tokens: ``gen_ai.client.token.usage`` (the spec's)."""
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
"""Seconds: the gateway's own time is sub-millisecond when healthy, so the buckets start at 100 µs."""

BREAKER_STATE_VALUES: Mapping[str, int] = MappingProxyType({"closed": 0, "half_open": 1, "open": 2})

# --- gen_ai.provider.name -----------------------------------------------------------------------
_KIND_PROVIDER = MappingProxyType({"anthropic": "anthropic", "gemini": "gcp.gemini"})
_HOST_PROVIDER = MappingProxyType({
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "api.cohere.com": "cohere",
    "api.moonshot.ai": "moonshot_ai",
})


def provider_name(kind: str, provider_id: str, base_url: str | None) -> str:
    """``gen_ai.provider.name``: the wire format's provider for Anthropic and Gemini upstreams
    (that is the telemetry "flavour" the spec means), the well-known provider for an
    OpenAI-compatible upstream on its official host, and otherwise the configured provider id."""
    if kind in _KIND_PROVIDER:
        return _KIND_PROVIDER[kind]
    host = (urlsplit(base_url).hostname or "") if base_url else ""
    return _HOST_PROVIDER.get(host, provider_id)


def server_address(base_url: str | None) -> tuple[str, int] | None:
    """``server.address`` and ``server.port`` of an upstream base URL."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port
