"""The standard ``OTEL_*`` variables, as the gateway reads them."""

from __future__ import annotations

import pytest

from gateway.settings import Settings, SettingsError
from gateway.telemetry.config import OtelSettings, OtlpTarget


def test_no_endpoint_means_no_otlp_export() -> None:
    otel = OtelSettings.from_env({})
    assert otel.traces is None and otel.metrics is None and not otel.disabled
    assert otel.service_name == "grove-gateway" and otel.sampler == "parentbased_always_on"


def test_http_endpoint_is_a_base_for_each_signal() -> None:
    otel = OtelSettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/"})
    assert otel.traces == OtlpTarget("https://collector:4318/v1/traces", "http/protobuf")
    assert otel.metrics == OtlpTarget("https://collector:4318/v1/metrics", "http/protobuf")


def test_grpc_endpoint_is_used_as_is_and_signals_can_differ() -> None:
    otel = OtelSettings.from_env({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:9000/custom/path",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=s%3Dcret,x-tenant=a",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    })
    assert otel.traces == OtlpTarget("http://collector:4317", "grpc", (("api-key", "s=cret"), ("x-tenant", "a")),
                                     2.5, True)
    assert otel.metrics == OtlpTarget("http://metrics:9000/custom/path", "http/protobuf", (), 2.5, True)
    assert "s=cret" not in repr(otel)  # headers carry credentials: kept out of reprs and logs


def test_exporters_none_and_sdk_disabled() -> None:
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    otel = OtelSettings.from_env({**base, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "prometheus"})
    assert otel.traces is None and otel.metrics is None
    disabled = OtelSettings.from_env({**base, "OTEL_SDK_DISABLED": "TRUE"})
    assert disabled.disabled and disabled.traces is None and disabled.metrics is None


def test_batching_sampling_and_resource() -> None:
    otel = OtelSettings.from_env({
        "OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "500", "OTEL_BSP_SCHEDULE_DELAY": "250",
        "OTEL_METRIC_EXPORT_INTERVAL": "15000", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_SERVICE_NAME": "edge",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=ml%20infra",
    })
    assert otel.bsp_max_queue_size == 100 and otel.bsp_max_export_batch_size == 100  # never above the queue
    assert otel.bsp_schedule_delay_s == 0.25 and otel.metric_interval_s == 15.0
    assert (otel.sampler, otel.sampler_arg) == ("parentbased_traceidratio", 0.25)
    assert otel.service_name == "edge"
    assert otel.resource_attributes == (("deployment.environment", "prod"), ("team", "ml infra"))


@pytest.mark.parametrize(("env", "message"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
     "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
    ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"),
    ({"OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"),
    ({"OTEL_BSP_MAX_QUEUE_SIZE": "1.5"}, "OTEL_BSP_MAX_QUEUE_SIZE"),
    ({"OTEL_METRIC_EXPORT_INTERVAL": "-1"}, "OTEL_METRIC_EXPORT_INTERVAL"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
])
def test_malformed_variables_are_settings_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_grove_telemetry_settings() -> None:
    settings = Settings.from_env({"GROVE_RECORD_CONTENT": "true", "GROVE_ACCESS_LOG": "off",
                                  "GROVE_USAGE_RETENTION_DAYS": "30"})
    assert settings.record_content and not settings.access_log and settings.usage_retention_days == 30
    assert not Settings.from_env({}).record_content
    with pytest.raises(SettingsError, match="GROVE_RECORD_CONTENT"):
        Settings.from_env({"GROVE_RECORD_CONTENT": "maybe"})


@pytest.mark.parametrize(("kind", "provider_id", "base_url", "expected"), [
    ("openai-compatible", "oai", "https://api.openai.com/v1", "openai"),
    ("openai-compatible", "groq", "https://api.groq.com/openai/v1", "groq"),
    ("openai-compatible", "local-vllm", "http://10.0.0.5:8000/v1", "local-vllm"),
    ("openai-compatible", "nowhere", None, "nowhere"),
    ("anthropic", "proxy", "http://127.0.0.1:9000", "anthropic"),
    ("gemini", "g", "https://generativelanguage.googleapis.com", "gcp.gemini"),
])
def test_provider_name(kind: str, provider_id: str, base_url: str | None, expected: str) -> None:
    from gateway.telemetry.names import provider_name

    assert provider_name(kind, provider_id, base_url) == expected


def test_server_address() -> None:
    from gateway.telemetry.names import server_address

    assert server_address("https://api.openai.com/v1") == ("api.openai.com", 443)
    assert server_address("http://10.0.0.5/v1") == ("10.0.0.5", 80)
    assert server_address("http://h:8000") == ("h", 8000)
    assert server_address(None) is None and server_address("not a url") is None
