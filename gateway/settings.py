"""Process settings, read once from the environment (``GROVE_*``; ``OTEL_*`` is read by OpenTelemetry)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gateway.breaker import BreakerPolicy
from gateway.telemetry.config import OtelSettings

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    config_dir: Path = Path("config")
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_level: str = "info"
    admin_key: str | None = field(default=None, repr=False)
    metrics_key: str | None = field(default=None, repr=False)
    """When set, ``GET /metrics`` requires ``Authorization: Bearer <metrics key>``."""
    max_connections: int = 4096
    """Connections (or requests in progress) one worker takes; past it, new requests get 503."""
    admin_failures_per_minute: int = 10
    """Failed admin-key attempts (API or console sign-in) one client address may make a minute."""
    retries: int = 1
    request_deadline_s: float = 120.0
    ttft_s: float = 30.0
    client_write_timeout_s: float = 30.0
    """How long a client may read nothing of its response (back-pressure) before its connection is closed."""
    breaker_failures: int = 5
    breaker_cooldown_s: float = 10.0
    record_content: bool = False
    """Put prompts and completions on spans and in the access log (opt-in: they hold user data)."""
    access_log: bool = True
    usage_retention_days: int = 400
    responses_ttl_s: float = 30 * 24 * 3600.0
    """How long a stored response (``POST /v1/responses``) can be read and continued."""
    reload: bool = True
    """Watch the config directory and apply valid edits without a restart."""
    reload_interval_s: float = 1.0
    sync_interval_s: float = 0.25
    """How often a replica checks the published registry version (one store GET)."""
    otel: OtelSettings = field(default_factory=OtelSettings)

    @property
    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(failure_threshold=self.breaker_failures, cooldown_s=self.breaker_cooldown_s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        base = cls()
        return replace(
            base,
            config_dir=Path(env.get("GROVE_CONFIG_DIR", str(base.config_dir))),
            host=env.get("GROVE_HOST", base.host),
            port=_int(env, "GROVE_PORT", base.port),
            redis_url=env.get("GROVE_REDIS_URL") or None,
            max_body_bytes=_int(env, "GROVE_MAX_BODY_BYTES", base.max_body_bytes),
            log_level=env.get("GROVE_LOG_LEVEL", base.log_level).lower(),
            admin_key=env.get("GROVE_ADMIN_KEY") or None,
            metrics_key=env.get("GROVE_METRICS_KEY") or None,
            admin_failures_per_minute=_int(env, "GROVE_ADMIN_FAILURES_PER_MINUTE", base.admin_failures_per_minute),
            max_connections=_int(env, "GROVE_MAX_CONNECTIONS", base.max_connections),
            retries=_int(env, "GROVE_RETRIES", base.retries, minimum=0),
            request_deadline_s=_float(env, "GROVE_REQUEST_DEADLINE_S", base.request_deadline_s),
            ttft_s=_float(env, "GROVE_TTFT_S", base.ttft_s),
            client_write_timeout_s=_float(env, "GROVE_CLIENT_WRITE_TIMEOUT_S", base.client_write_timeout_s),
            breaker_failures=_int(env, "GROVE_BREAKER_FAILURES", base.breaker_failures),
            breaker_cooldown_s=_float(env, "GROVE_BREAKER_COOLDOWN_S", base.breaker_cooldown_s),
            record_content=_bool(env, "GROVE_RECORD_CONTENT", base.record_content),
            access_log=_bool(env, "GROVE_ACCESS_LOG", base.access_log),
            usage_retention_days=_int(env, "GROVE_USAGE_RETENTION_DAYS", base.usage_retention_days),
            responses_ttl_s=_float(env, "GROVE_RESPONSES_TTL_S", base.responses_ttl_s),
            reload=_bool(env, "GROVE_RELOAD", base.reload),
            reload_interval_s=_float(env, "GROVE_RELOAD_INTERVAL_S", base.reload_interval_s),
            sync_interval_s=_float(env, "GROVE_SYNC_INTERVAL_S", base.sync_interval_s),
            otel=_otel(env),
        )


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise SettingsError(f"{name}: must be greater than 0, got {raw}")
    return value


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _otel(env: Mapping[str, str]) -> OtelSettings:
    try:
        return OtelSettings.from_env(env)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
