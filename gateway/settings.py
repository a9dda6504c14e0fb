"""Process settings, read once from the environment (``GROVE_*``; ``OTEL_*`` is read by OpenTelemetry)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

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
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be greater than 0, got {value}")
    return value
