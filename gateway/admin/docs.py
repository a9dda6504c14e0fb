"""OpenAPI operations and body models of the admin API (``gateway/admin/api.py`` serves them).

``ForceOpenBody`` also validates the request; the response models describe what the
handlers build (tests/test_openapi.py checks live responses against them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.openapi import Operation, Param

# Longest force-open accepted: a year (the breaker caps open periods there too).
MAX_FORCE_OPEN_S = 365 * 86400


class ForceOpenBody(BaseModel):
    """Optional body of a force-open; without it the breaker opens for the configured cooldown."""

    model_config = ConfigDict(strict=True, extra="forbid")
    seconds: Annotated[float, Field(gt=0, le=MAX_FORCE_OPEN_S, allow_inf_nan=False)] | None = None


class Breaker(BaseModel):
    """One deployment's circuit breaker. Times are epoch seconds."""

    deployment: str = Field(description="'id@version'")
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    opened_until: float | None = Field(description="while open: until when")
    trips: int = Field(description="consecutive trips since it last closed (the cooldown doubles per trip)")


class BreakerList(BaseModel):
    object: Literal["list"]
    data: list[Breaker]


class Attempt(BaseModel):
    deployment: str
    outcome: str = Field(description="'ok', or why it failed or was skipped")
    latency_ms: float
    error: str | None
    breaker: str


class Decision(BaseModel):
    """A routing decision and what became of it (more fields: the router's provenance)."""

    model_config = ConfigDict(extra="allow")
    id: str
    created: float
    requested: str
    route: str | None
    strategy: str
    chain: list[str]
    candidates: list[dict[str, Any]]
    exclusions: list[dict[str, Any]]
    config_version: str
    attempts: list[Attempt]
    served_by: str | None
    status: int


class DecisionList(BaseModel):
    object: Literal["list"]
    data: list[Decision]


class UsageRow(BaseModel):
    model: str
    route: str
    key: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: float


class UsageTotal(BaseModel):
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: float


class Usage(BaseModel):
    object: Literal["usage"]
    day: str
    data: list[UsageRow]
    total: UsageTotal
    complete: bool = Field(description="false: the store did not answer, the rows are this replica's alone")


EVENT_STREAM = {
    "type": "string",
    "description": "Server-sent events. Each event: 'id: <stream id>', 'event: <kind>', 'data: "
                   "{\"id\", \"time\", \"kind\", \"replica\", \"data\"}'. A ': heartbeat' comment every "
                   "15 s when quiet. Kinds include breaker.opened, breaker.half_open, breaker.closed.",
}

LIST_DECISIONS = Operation(
    "Recent routing decisions", "Newest first, from every replica when the store is shared.",
    params=(Param("limit", "How many (1-1000, default 50).", schema={"type": "integer", "minimum": 1,
                                                                       "maximum": 1000}),),
    reply=DecisionList, errors=(400,), tags=("admin",))
GET_DECISION = Operation("One routing decision", "By the x-grove-decision-id of a response.",
                         reply=Decision, errors=(404,), tags=("admin",))
LIST_BREAKERS = Operation("Circuit breakers", "Every deployment's breaker.", reply=BreakerList, tags=("admin",))
DEPLOYMENT = Param("deployment", "'model@version', as GET /admin/breakers lists them.", "path")
FORCE_OPEN = Operation(
    "Force a breaker open",
    "Every replica skips the deployment (falls back) until it closes: for `seconds`, default the "
    "configured cooldown; then half-open as usual. Publishes breaker.opened.",
    params=(DEPLOYMENT,), body=ForceOpenBody, body_required=False, reply=Breaker, errors=(400, 404),
    tags=("admin",))
RESET = Operation("Reset a breaker", "Closed, with its counts and trips forgotten. Publishes breaker.closed.",
                  params=(DEPLOYMENT,), reply=Breaker, errors=(404,), tags=("admin",))
USAGE = Operation(
    "Usage of a day", "Requests, tokens and cost per model, route and key.",
    params=(Param("day", "UTC day YYYY-MM-DD, default today.", schema={"type": "string", "format": "date"}),),
    reply=Usage, errors=(400, 404), tags=("admin",))
EVENTS = Operation(
    "Live events",
    "Every replica's events as they happen. With Last-Event-ID, first replays those the store still "
    "holds after that id (the last ~1000).",
    params=(
        Param("kinds", "Only these kinds, comma-separated, e.g. breaker.opened,breaker.closed."),
        Param("Last-Event-ID", "Replay the events after this id first.", "header",
              schema={"type": "string", "pattern": r"^\d+-\d+$"}),
    ),
    reply=EVENT_STREAM, media="text/event-stream", errors=(400,), headers=("x-grove-replica",), tags=("admin",))
