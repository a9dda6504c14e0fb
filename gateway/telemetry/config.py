"""The standard ``OTEL_*`` variables the gateway honours, read once into frozen settings.

Promises:
- OTLP export is on only when an endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or the
  per-signal ``..._TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``) and the signal's exporter is not
  ``none``. The generic endpoint is a base for HTTP (``/v1/traces``, ``/v1/metrics`` appended) and
  used as is for gRPC; a per-signal endpoint is always used as is.
- ``OTEL_EXPORTER_OTLP_PROTOCOL`` (and the per-signal variables) is ``grpc`` or ``http/protobuf``
  (the spec's default); anything else is a settings error, as are malformed numbers.
- Times follow the spec's units: milliseconds in the environment, seconds here.
- ``OTEL_SDK_DISABLED=true`` turns off spans and OTLP export; the gateway's own ``/metrics``,
  cost, usage and access log keep working.
Imports nothing from OpenTelemetry: the settings load fast for every CLI command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

Protocol = Literal["grpc", "http/protobuf"]
_PROTOCOLS = ("grpc", "http/protobuf")
SAMPLERS = frozenset({
    "always_on", "always_off", "traceidratio",
    "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
})


@dataclass(frozen=True, slots=True)
class OtlpTarget:
    """Where one signal goes over OTLP."""

    endpoint: str
    protocol: Protocol
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # often carries an API key
    timeout_s: float = 10.0
    insecure: bool | None = None
    """gRPC only: None lets the endpoint's scheme decide (http → plaintext)."""


@dataclass(frozen=True, slots=True)
class OtelSettings:
    disabled: bool = False
    service_name: str = "grove-gateway"
    resource_attributes: tuple[tuple[str, str], ...] = ()
    traces: OtlpTarget | None = None
    metrics: OtlpTarget | None = None
    sampler: str = "parentbased_always_on"
    sampler_arg: float = 1.0
    metric_interval_s: float = 60.0
    metric_timeout_s: float = 30.0
    bsp_max_queue_size: int = 2048
    bsp_schedule_delay_s: float = 5.0
    bsp_max_export_batch_size: int = 512
    bsp_export_timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OtelSettings:
        """Raises ``ValueError`` naming the variable when one is malformed."""
        base = cls()
        disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        sampler = env.get("OTEL_TRACES_SAMPLER", base.sampler).strip().lower() or base.sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"OTEL_TRACES_SAMPLER: expected one of {', '.join(sorted(SAMPLERS))}, got {sampler!r}")
        batch = _int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", base.bsp_max_export_batch_size)
        queue = _int(env, "OTEL_BSP_MAX_QUEUE_SIZE", base.bsp_max_queue_size)
        return cls(
            disabled=disabled,
            service_name=env.get("OTEL_SERVICE_NAME", "").strip() or base.service_name,
            resource_attributes=_pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", "")),
            traces=None if disabled else _target(env, "TRACES", "/v1/traces"),
            metrics=None if disabled else _target(env, "METRICS", "/v1/metrics"),
            sampler=sampler,
            sampler_arg=_ratio(env, "OTEL_TRACES_SAMPLER_ARG", base.sampler_arg),
            metric_interval_s=_ms(env, "OTEL_METRIC_EXPORT_INTERVAL", base.metric_interval_s),
            metric_timeout_s=_ms(env, "OTEL_METRIC_EXPORT_TIMEOUT", base.metric_timeout_s),
            bsp_max_queue_size=queue,
            bsp_schedule_delay_s=_ms(env, "OTEL_BSP_SCHEDULE_DELAY", base.bsp_schedule_delay_s),
            bsp_max_export_batch_size=min(batch, queue),  # the SDK refuses a batch above the queue
            bsp_export_timeout_s=_ms(env, "OTEL_BSP_EXPORT_TIMEOUT", base.bsp_export_timeout_s),
        )


def _target(env: Mapping[str, str], signal: str, http_path: str) -> OtlpTarget | None:
    exporters = {e.strip().lower() for e in env.get(f"OTEL_{signal}_EXPORTER", "otlp").split(",") if e.strip()}
    allowed = {"otlp", "none"} | ({"prometheus"} if signal == "METRICS" else set())
    unknown = exporters - allowed
    if unknown:
        raise ValueError(f"OTEL_{signal}_EXPORTER: {', '.join(sorted(unknown))} is not supported "
                         f"(use {' or '.join(sorted(allowed))})")
    if "otlp" not in exporters:
        return None
    protocol = (env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip().lower()
    if protocol not in _PROTOCOLS:
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL: expected grpc or http/protobuf, got {protocol!r}")
    endpoint = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip()
    if not endpoint:
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        if not endpoint:
            return None
        if protocol == "http/protobuf":
            endpoint = endpoint.rstrip("/") + http_path
    parts = urlsplit(endpoint)
    if protocol == "http/protobuf" and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueError(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT: expected an http(s) URL, got {endpoint!r}")
    headers = _pairs(env.get(f"OTEL_EXPORTER_OTLP_{signal}_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
    timeout_var = f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"
    timeout = _ms(env, timeout_var if env.get(timeout_var) else "OTEL_EXPORTER_OTLP_TIMEOUT", 10.0)
    insecure_raw = env.get(f"OTEL_EXPORTER_OTLP_{signal}_INSECURE") or env.get("OTEL_EXPORTER_OTLP_INSECURE")
    insecure = None if not insecure_raw else insecure_raw.strip().lower() == "true"
    return OtlpTarget(endpoint, protocol, headers, timeout, insecure)  # type: ignore[arg-type]


def _pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """``k1=v1,k2=v2`` with percent-encoded values (the W3C baggage format the spec uses)."""
    out: list[tuple[str, str]] = []
    for item in raw.split(","):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            out.append((unquote(name.strip()), unquote(value.strip())))
    return tuple(out)


def _number(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number, got {raw!r}") from None


def _ms(env: Mapping[str, str], name: str, default_s: float) -> float:
    value = _number(env, name)
    if value is None:
        return default_s
    if value <= 0:
        raise ValueError(f"{name}: must be a positive number of milliseconds, got {value:g}")
    return value / 1000


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _number(env, name)
    if value is None:
        return default
    if value < 1 or value != int(value):
        raise ValueError(f"{name}: expected a positive integer, got {value:g}")
    return int(value)


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name)
    if value is None:
        return default
    if not 0 <= value <= 1:
        raise ValueError(f"{name}: expected a ratio from 0 to 1, got {value:g}")
    return value
