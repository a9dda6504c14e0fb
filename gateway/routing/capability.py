"""Hard constraints and the capability score: which deployments may serve a request, and how
well each fits.

Constraints, checked in this order (the first that fails is the exclusion's reason):

- ``max_tokens``: a requested output larger than the model's ``max_output_tokens``;
- ``context``: input estimate + output > ``context_window``; the output is the requested
  ``max_tokens`` or, when the client set none, ``min(max_output_tokens, 1024)``: most answers are
  far shorter than a model's limit, and assuming the limit would exclude every model as soon as a
  prompt is long;
- ``vision`` / ``tools`` / ``json`` / ``streaming``: the request uses what the model lacks;
- ``key``: the client key's ``allowed_models`` do not cover the deployment;
- ``breaker``: its circuit breaker is open.

The score of a deployment that passes: ``capability - price_weight*price -
latency_weight*latency - error_weight*errors``, where

- ``capability`` = the needs-weighted mean of the model's 0..10 scores, divided by 10;
- ``price`` = this request's estimated cost, log-scaled and normalised across the candidates to
  0 (cheapest) .. 1 (dearest): prices span two orders of magnitude, so a linear scale would
  treat every cheap model as equally free;
- ``latency`` = moving-average latency normalised across the candidates that have one (a model
  without observations is not penalised, so it gets traffic and is measured);
- ``errors`` = the moving-average error rate, 0..1.

Ranking: active before deprecated, then score (higher first), then deployment key, so equal
inputs always give the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from gateway.routing.decision import Candidate, Exclusion, Health
from gateway.routing.features import Features
from gateway.routing.hints import Needs
from gateway.routing.table import DEFAULT_OUTPUT_TOKENS, JSON_MODE, STREAMING, TOOLS, VISION, Row

__all__ = ["DEFAULT_OUTPUT_TOKENS", "eligible", "exclusion", "rank", "uses"]


def uses(features: Features) -> int:
    """The VISION/TOOLS/JSON_MODE/STREAMING bits this request needs a model to support."""
    return (
        VISION * bool(features.images) | TOOLS * features.tools | JSON_MODE * features.json_mode
        | STREAMING * features.stream
    )  # fmt: skip


def exclusion(row: Row, features: Features, allowed: frozenset[str] | None, health: Health) -> Exclusion | None:
    """Why ``row`` may not serve this request, or None if it may."""
    wanted = features.max_tokens
    if wanted is not None and wanted > row.max_out:
        return Exclusion(row.key, f"max_tokens {wanted} is more than its output limit of {row.max_out}", "max_tokens")
    out = wanted if wanted is not None else row.default_out
    if features.input_tokens + out > row.window:
        reason = f"its context window of {row.window} cannot take ~{features.input_tokens} input + {out} output tokens"
        return Exclusion(row.key, reason, "context")
    if features.images and not row.vision:
        return Exclusion(row.key, "does not accept images", "vision")
    if features.tools and not row.tools:
        return Exclusion(row.key, "does not support tools", "tools")
    if features.json_mode and not row.json_mode:
        return Exclusion(row.key, "does not support JSON mode", "json")
    if features.stream and not row.streaming:
        return Exclusion(row.key, "does not stream", "streaming")
    if allowed is not None and row.key not in allowed:
        return Exclusion(row.key, "the client key's allowed_models do not include it", "key")
    if row.key in health.open:
        return Exclusion(row.key, "its circuit breaker is open", "breaker")
    return None


def eligible(
    rows: Iterable[Row], features: Features, allowed: frozenset[str] | None, health: Health
) -> tuple[list[Row], list[Exclusion]]:
    """Split rows into those that pass every constraint (in order) and the exclusions."""
    passed: list[Row] = []
    excluded: list[Exclusion] = []
    # One cheap test per row on the hot path; ``exclusion`` explains only the rows that fail.
    needed = uses(features)
    tokens_in = features.input_tokens
    wanted = features.max_tokens
    blocked = health.open
    for row in rows:
        if (
            (tokens_in > row.room if wanted is None else wanted > row.max_out or tokens_in + wanted > row.window)
            or needed & ~row.bits
            or (allowed is not None and row.key not in allowed)
            or row.key in blocked
        ):
            found = exclusion(row, features, allowed, health)
            assert found is not None
            excluded.append(found)
        else:
            passed.append(row)
    return passed, excluded


def rank(
    rows: list[Row], features: Features, needs: Needs, weights: tuple[float, float, float], health: Health
) -> list[Candidate]:
    """Score ``rows`` (all eligible) and return them best first."""
    if not rows:
        return []
    # One pass per stage with everything in locals: this is the per-model inner loop of routing.
    price_weight, latency_weight, error_weight = weights
    scale = (sum(needs) * 10.0) or 1.0  # all-zero needs: every capability scores 0
    w0, w1, w2, w3, w4 = (n / scale for n in needs)
    tokens_in = features.input_tokens
    wanted = features.max_tokens
    log1p = math.log1p
    costed = []
    for row in rows:
        cost = tokens_in * row.usd_in + (row.default_out if wanted is None else wanted) * row.usd_out
        # log1p of micro-dollars: defined for free (self-hosted) models, and log-like above a cent.
        costed.append((row, cost, log1p(cost * 1e6)))
    logs = [c[2] for c in costed]
    low_price = min(logs)
    span = max(logs) - low_price
    per_price = 1.0 / span if span > 0 else 0.0
    latency_of = health.latency_ms.get
    low_latency, per_latency = _range([t for row in rows if (t := latency_of(row.key)) is not None])
    error_of = health.error_rate.get
    scored = []
    for row, cost, logged in costed:
        a, b, c, d, e = row.caps
        capability = w0 * a + w1 * b + w2 * c + w3 * d + w4 * e
        price = (logged - low_price) * per_price
        latency = latency_of(row.key)
        latency = 0.0 if latency is None else (latency - low_latency) * per_latency
        errors = error_of(row.key, 0.0)
        score = capability - price_weight * price - latency_weight * latency - error_weight * errors
        scored.append((row.deprecated, -score, row.key, row.status, score, capability, price, latency, errors, cost))
    scored.sort()
    make = tuple.__new__  # Candidate's own fields, in order, from the sort tuple
    return [make(Candidate, s[2:]) for s in scored]


def _range(values: list[float]) -> tuple[float, float]:
    """The lowest value and the factor that maps the values onto 0..1 (0 if they are all equal).
    A deployment without observations gets 0: it is not penalised, so it gets traffic and is
    measured."""
    if not values:
        return 0.0, 0.0
    low = min(values)
    span = max(values) - low
    return low, (1.0 / span if span > 0 else 0.0)
