"""Routing: a request's features, the catalog and the deployments' health → an explained
``Decision`` (an ordered chain of deployments to try, with its provenance). Pure functions and
data, no I/O: the pipeline passes health in and acts on the decision.

Use: build one ``Router(catalog)`` per catalog version; per request call
``extract_features(body, headers)`` then ``router.decide(model, features, component=...,
key=..., sticky_id=request_id, health=...)``. Forward ``without_hint(body)`` (when not None)
instead of the client's body, so the metadata hint never reaches an upstream.
"""

from gateway.routing.capability import DEFAULT_OUTPUT_TOKENS
from gateway.routing.decision import Candidate, Decision, Exclusion, Health
from gateway.routing.features import Features, extract_features
from gateway.routing.hints import HEADER as CAPABILITIES_HEADER
from gateway.routing.hints import METADATA_KEY as CAPABILITIES_METADATA_KEY
from gateway.routing.hints import Needs, without_hint
from gateway.routing.router import AUTO, COMPONENT_HEADER, Router

__all__ = [
    "AUTO", "CAPABILITIES_HEADER", "CAPABILITIES_METADATA_KEY", "COMPONENT_HEADER", "DEFAULT_OUTPUT_TOKENS",
    "Candidate", "Decision", "Exclusion", "Features", "Health", "Needs", "Router", "extract_features",
    "without_hint",
]  # fmt: skip
