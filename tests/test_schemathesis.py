"""The whole HTTP API fuzzed from its own OpenAPI document (schemathesis): with the admin key and
without, no operation answers a 5xx, and every answer is one the document describes."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import GatewayFactory

ADMIN_KEY = "admin-key-for-fuzzing"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(params=["admin", "anonymous"])
def api(request: pytest.FixtureRequest, start_gateway: GatewayFactory, demo_config: Path) -> schemathesis.BaseSchema:
    gateway = start_gateway(demo_config, admin_key=ADMIN_KEY)
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    schema.config.headers = {"authorization": f"Bearer {ADMIN_KEY}"} if request.param == "admin" else {}
    return schema


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_operation_fails_or_answers_off_its_document(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
