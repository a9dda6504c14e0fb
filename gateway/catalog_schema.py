"""The config schema: one pydantic spec per kind of entry in a config file, and its JSON Schema.

Each spec validates one entry on its own (types, ranges, patterns, which fields a route's
strategy allows); references between entries are checked by ``gateway.catalog``. Specs are
frozen and hashable all the way down, so a ``Catalog`` built from them is immutable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = [
    "CAPABILITIES", "PATTERNS", "SECTIONS", "STRATEGIES", "Capabilities", "CapabilityWeights", "ConfigFile",
    "Headers", "KeySpec", "LimitsSpec", "ModelSpec", "Prices", "ProviderSpec", "RouteSpec", "Supports", "VariantSpec",
    "json_schema", "split_ref", "version_key",
]  # fmt: skip

_SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._+:-]*$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SHA256 = r"^[0-9a-fA-F]{64}$"
PATTERNS = {
    _SLUG: "must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
    _MODEL_ID: "must be letters, digits, '.', '_', ':', '/' or '-', starting with a letter or digit"
    " (no '@': it separates id and version)",
    _VERSION: "must be letters, digits, '.', '_', '+', ':' or '-', starting with a letter or digit"
    " (it goes into the x-grove-model header as id@version)",
    _ENV_NAME: "must be the NAME of an environment variable (like OPENAI_API_KEY), not the key itself",
    _SHA256: "must be 64 hex characters: the sha256 of the client's key",
}
"""Each regex of the schema → the sentence that explains it to an operator."""

# Credentials belong in the environment (api_key_env), never in a config file.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SPEC = ConfigDict(frozen=True, extra="forbid", validate_by_name=False, serialize_by_alias=True)

CAPABILITIES = ("reasoning", "creativity", "precision", "speed", "context")
"""The capability dimensions, in the order routing uses for its vectors."""
STRATEGIES = ("chain", "weighted", "capability")

Slug = Annotated[str, Field(pattern=_SLUG)]
Name = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(strict=True, gt=0)]
PositiveInt = Annotated[int, Field(strict=True, gt=0)]
Score = Annotated[float, Field(strict=True, ge=0, le=10)]
Price = Annotated[float, Field(strict=True, ge=0)]
NonNegative = Annotated[float, Field(strict=True, ge=0)]
Flag = Annotated[bool, Field(strict=True)]


def _version_in(value: object) -> object:
    if isinstance(value, date):  # YAML reads an unquoted 2024-07-18 as a date
        raise PydanticCustomError("version", f'must be a string: quote it, "{value.isoformat()}"')
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    _ = parts.port  # raises ValueError ("port out of range 0-65535") for a bad port
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        raise PydanticCustomError("url", "must be an http(s) URL like https://api.openai.com/v1")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise PydanticCustomError("url", "must not have a query or fragment")
    return value.rstrip("/")


class Headers(Mapping[str, str]):
    """Extra static headers of a provider: a read-only, hashable mapping, so a spec is immutable
    all the way down and still spreads with ``**`` like a dict."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items or {})

    def __getitem__(self, name: str) -> str:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            _checked_headers,
            handler.generate_schema(dict[str, str]),
            serialization=core_schema.plain_serializer_function_ser_schema(dict),
        )


def _checked_headers(value: dict[str, str]) -> Headers:
    seen: set[str] = set()
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise PydanticCustomError("headers", f"{name!r} is not a valid header name")
        if name.lower() in _SECRET_HEADERS:
            raise PydanticCustomError("headers", f"{name!r} carries a secret: use api_key_env")
        if name.lower() in seen:
            raise PydanticCustomError("headers", f"{name!r} is given twice")
        if "\n" in text or "\r" in text:
            raise PydanticCustomError("headers", f"{name!r} must have a one-line value")
        seen.add(name.lower())
    return Headers(value)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _non_empty(value: object) -> object:
    # pydantic's min_length on a tuple counts the items that validated, so one bad item would
    # also report "must have at least 1 entry"; check the list as written instead.
    if isinstance(value, (list, tuple)) and not value:
        raise PydanticCustomError("too_short", "must have at least 1 entry", {"min_length": 1})
    return value


NonEmpty = BeforeValidator(_non_empty)
"""Marks a list that must have at least one entry (the JSON Schema says so with ``_listed``)."""


def _listed(schema: dict[str, Any]) -> None:
    schema.update(minItems=1)
    schema.pop("default", None)

VersionText = Annotated[str, Field(pattern=_VERSION)]
Version = Annotated[VersionText, BeforeValidator(_version_in, json_schema_input_type=VersionText | int)]


class ProviderSpec(BaseModel):
    model_config = _SPEC
    id: Slug
    kind: Literal["openai-compatible", "anthropic", "gemini"]
    base_url: Annotated[str, AfterValidator(_base_url)] = Field(
        json_schema_extra={"format": "uri", "pattern": r"^https?://[^\s?#]+$"}
    )
    api_key_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    headers: Annotated[Headers, BeforeValidator(lambda v: {} if v is None else v)] = Field(
        Headers(), json_schema_extra=lambda schema: schema.update(default={})
    )
    timeout_s: Positive = 60.0
    connect_timeout_s: Positive = 5.0
    responses_api: Flag = Field(False, description="openai-compatible only: serves POST {base_url}/responses "
                                "natively (the Responses API goes through as bytes; otherwise via chat)")


class Capabilities(BaseModel):
    model_config = _SPEC
    reasoning: Score
    creativity: Score
    precision: Score
    speed: Score
    context: Score


class Supports(BaseModel):
    model_config = _SPEC
    tools: Flag = False
    vision: Flag = False
    json_mode: Flag = Field(False, alias="json")
    streaming: Flag = True


class Prices(BaseModel):
    """USD per million tokens."""

    model_config = _SPEC
    input_per_mtok: Price
    output_per_mtok: Price
    cached_input_per_mtok: Price | None = None


class ModelSpec(BaseModel):
    model_config = _SPEC
    id: Annotated[str, Field(pattern=_MODEL_ID)]
    provider: Name
    upstream_model: Name = Field("", description="default: the id", json_schema_extra=_no_default)
    version: Version = "1"
    context_window: PositiveInt
    max_output_tokens: PositiveInt
    capabilities: Capabilities
    supports: Supports = Supports()
    prices: Prices
    mode: Literal["chat", "embedding"] = Field(
        "chat", description="what the model does: chat (chat completions, Responses, Messages, legacy "
        "completions) or embedding (POST /v1/embeddings)")
    dimensions: PositiveInt | None = Field(
        None, validate_default=True, json_schema_extra=_no_default,
        description="embedding models only, and required for them: the length of the vectors the model "
        "returns when a request names no dimensions (an OpenAI-compatible model's native size; a Gemini model "
        "is asked for this size). Models of one route must agree on it. An embedding model's context_window "
        "is its limit per input, not per request")
    status: Literal["active", "deprecated", "retired"] = "active"
    successor: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _upstream_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "upstream_model" not in data and isinstance(data.get("id"), str):
            return {**data, "upstream_model": data["id"]}
        return data

    @field_validator("dimensions", mode="wrap")
    @classmethod
    def _dimensions_fit_mode(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        mode = info.data.get("mode")  # absent when the mode itself was invalid
        if value is None:
            if mode == "embedding":
                raise PydanticCustomError("missing", "Field required for an embedding model: the length of its vectors")
            return None
        if mode == "chat":
            raise PydanticCustomError("mode", "is only for embedding models (mode: embedding)")
        return handler(value)

    @model_serializer(mode="wrap")
    def _without_dimensions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A chat model has none: leaving the key out keeps its content (and the catalog version) as before.
        data: dict[str, Any] = handler(self)
        if data.get("dimensions") is None:
            data.pop("dimensions", None)
        return data

    @field_validator("max_output_tokens")
    @classmethod
    def _fits_window(cls, value: int, info: ValidationInfo) -> int:
        window = info.data.get("context_window")
        if window is not None and value > window:
            raise PydanticCustomError("window", f"must be less than or equal to context_window ({window})")
        return value


# --- routes ------------------------------------------------------------------------------------


class CapabilityWeights(BaseModel):
    """How much each capability matters (0..10, like a model's scores); absent means 0."""

    model_config = _SPEC
    reasoning: Score = 0
    creativity: Score = 0
    precision: Score = 0
    speed: Score = 0
    context: Score = 0

    @model_validator(mode="after")
    def _something_matters(self) -> CapabilityWeights:
        if not any(self.vector()):
            raise PydanticCustomError("weights", "must give at least one capability a weight above 0")
        return self

    def vector(self) -> tuple[float, float, float, float, float]:
        """The weights in ``CAPABILITIES`` order."""
        return (float(self.reasoning), float(self.creativity), float(self.precision), float(self.speed),
                float(self.context))  # fmt: skip


class VariantSpec(BaseModel):
    model_config = _SPEC
    name: Slug
    weight: Annotated[Positive, Field(description="share of traffic, relative to the other variants")]
    models: Annotated[tuple[Name, ...], NonEmpty] = Field(
        description='model ids, or "id@version"', json_schema_extra=_listed
    )


# Which strategies may set each strategy-specific field, and its value when they leave it out
# (a route that may not set it holds None, or () for the lists). ``_REQUIRED`` must be given.
_ONLY_FOR: dict[str, tuple[frozenset[str], Any]] = {
    "models": (frozenset({"chain", "capability"}), ()),
    "variants": (frozenset({"weighted"}), ()),
    "sticky": (frozenset({"weighted"}), "user"),
    "weights": (frozenset({"capability"}), None),
    "price_weight": (frozenset({"capability"}), 0.3),
    "latency_weight": (frozenset({"capability"}), 0.2),
    "error_weight": (frozenset({"capability"}), 1.0),
}
_REQUIRED = {("chain", "models"), ("weighted", "variants")}
_EMPTY: dict[str, Any] = {"models": (), "variants": ()}
_CAPABILITY_FALLBACKS = 3


def _route_json_rules(schema: dict[str, Any]) -> None:
    """Mirror the strategy rules in the JSON Schema, so editors flag them too."""
    rules: list[dict[str, Any]] = []
    for strategy in STRATEGIES:
        when: dict[str, Any] = {"properties": {"strategy": {"const": strategy}}}
        if strategy != "chain":
            when["required"] = ["strategy"]  # a route without a strategy is a chain
        banned = {name: False for name, (allowed, _) in _ONLY_FOR.items() if strategy not in allowed}
        then: dict[str, Any] = {"properties": banned}
        required = [name for s, name in sorted(_REQUIRED) if s == strategy]
        if required:
            then["required"] = required
        rules.append({"if": when, "then": then})
    schema["allOf"] = rules


class RouteSpec(BaseModel):
    """A name clients can send as ``model``. ``strategy`` decides how it picks deployments:

    - ``chain``: ``models`` in order, each a fallback for the one before.
    - ``weighted``: ``variants`` split the traffic by weight (sticky per user or key); the chosen
      variant's models come first, the other variants' follow as fallbacks.
    - ``capability``: the router scores ``models`` (default: every model) for each request.
    """

    model_config = ConfigDict(**_SPEC, json_schema_extra=_route_json_rules)
    name: Slug
    strategy: Literal["chain", "weighted", "capability"] = "chain"
    models: Annotated[tuple[Name, ...], NonEmpty] = Field(
        None,
        validate_default=True,
        description='model ids, or "id@version": the chain (chain), or the candidates (capability, '
        "default: every model)",
        json_schema_extra=_listed,
    )
    variants: Annotated[tuple[VariantSpec, ...], NonEmpty] = Field(
        None, validate_default=True, description="weighted only", json_schema_extra=_listed
    )
    sticky: Literal["user", "key", "none"] | None = Field(
        None,
        validate_default=True,
        description="weighted only: what keeps a client on one variant (default user)",
        json_schema_extra=_no_default,
    )
    weights: CapabilityWeights | None = Field(
        None,
        validate_default=True,
        description="capability only: what matters when a request gives no hints (default: inferred)",
    )
    price_weight: NonNegative | None = Field(None, validate_default=True, description="capability only (default 0.3)")
    latency_weight: NonNegative | None = Field(
        None, validate_default=True, description="capability only (default 0.2)"
    )
    error_weight: NonNegative | None = Field(None, validate_default=True, description="capability only (default 1)")
    fallbacks: PositiveInt | None = Field(
        None,
        validate_default=True,
        description="most deployments a request may try (default: capability 3, otherwise all listed)",
    )

    @field_validator(*_ONLY_FOR, mode="wrap")
    @classmethod
    def _fits_strategy(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        name = info.field_name
        assert name is not None
        allowed, default = _ONLY_FOR[name]
        strategy = info.data.get("strategy")  # absent when the strategy itself was invalid
        if value is None:
            if (strategy, name) in _REQUIRED:
                raise PydanticCustomError("missing", "Field required")
            return default if strategy in allowed else _EMPTY.get(name)
        if strategy is not None and strategy not in allowed:
            if name == "models":
                raise PydanticCustomError("strategy", "a weighted route lists its models under variants")
            owners = " or ".join(sorted(allowed))
            raise PydanticCustomError("strategy", f"is only for strategy {owners}, not {strategy}")
        return handler(value)

    @field_validator("fallbacks", mode="wrap")
    @classmethod
    def _fallbacks(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if value is None:
            return _CAPABILITY_FALLBACKS if info.data.get("strategy") == "capability" else None
        return handler(value)

    @model_serializer(mode="wrap")
    def _without_unused(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Fields a strategy does not use would not validate again: leave them out.
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None and v != [] and v != ()}


class LimitsSpec(BaseModel):
    """A client key's limits; each one left out is unlimited. Enforced in the shared store, so
    they hold across every replica together."""

    model_config = _SPEC
    rpm: PositiveInt | None = Field(None, description="requests in any trailing minute")
    tpm: PositiveInt | None = Field(
        None, description="tokens in any trailing minute: the estimate (prompt + max_tokens, else 1024) "
        "is reserved up front and corrected to the real usage"
    )
    budget_usd_day: Positive | None = Field(None, description="spend per UTC day, in USD")
    budget_usd_month: Positive | None = Field(None, description="spend per UTC month, in USD")
    on_store_outage: Literal["open", "closed"] = Field(
        "open", description="while the shared store is unreachable: serve without these limits (open) or "
        "refuse with 503 (closed). The gateway's own load is never an outage: a request whose limits "
        "cannot be checked for it waits, or is refused with 503")


class KeySpec(BaseModel):
    model_config = _SPEC
    name: Slug
    sha256: Annotated[str, Field(pattern=_SHA256), AfterValidator(str.lower)]
    allowed_models: Annotated[
        tuple[Name, ...], Field(description='model ids, route names or "auto"; empty = all')
    ] = ()
    default_component: Slug | None = Field(
        None, description="component of requests that send no x-grove-component header"
    )
    default_route: Slug | None = Field(
        None,
        description='route (or "auto") that serves this key\'s "auto" requests when no x-grove-component '
        "header names a component; it must be a route the key may use",
    )
    limits: LimitsSpec | None = None

    @model_validator(mode="after")
    def _one_default(self) -> KeySpec:
        # Both would say where "auto" goes: one rule, one place.
        if self.default_route is not None and self.default_component is not None:
            raise PydanticCustomError(
                "default", "sets both default_route and default_component: keep one (a component names its route)"
            )
        return self


class ConfigFile(BaseModel):
    """One config file: any subset of the sections."""

    model_config = ConfigDict(extra="forbid", title="Grove Gateway config file")
    providers: list[ProviderSpec] | None = None
    models: list[ModelSpec] | None = None
    routes: list[RouteSpec] | None = None
    keys: list[KeySpec] | None = None
    components: dict[Slug, Slug] | None = Field(
        None,
        description='component name → route name (or "auto"), for requests tagged x-grove-component',
        json_schema_extra={"propertyNames": {"pattern": _SLUG}},
    )


SECTIONS: dict[str, type[BaseModel]] = {
    "providers": ProviderSpec, "models": ModelSpec, "routes": RouteSpec, "keys": KeySpec,
}  # fmt: skip
"""The list sections of a config file and the spec of their entries (``components`` is a mapping)."""


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one config file, for editors."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **ConfigFile.model_json_schema()}


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"id@version"`` → ``("id", "version")``; ``"id"`` → ``("id", None)``."""
    model_id, at, version = ref.partition("@")
    return model_id, (version if at else None)


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Sort key that orders versions naturally: "9" before "10", "1.9" before "1.10"."""
    return tuple(int(run) for run in re.findall(r"\d+", version)), version
