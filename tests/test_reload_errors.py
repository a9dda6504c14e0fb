"""A config file that does not parse is reported first, without the follow-on errors of the
references into it (a providers file with a syntax error made every model "unknown provider")."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from gateway.demo import DEMO_CONFIG
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory

ADMIN = "admin-secret-for-tests"


def _split_demo_config(directory: Path, fakes: Fakes) -> tuple[Path, Path]:
    """The demo config as two files: its providers, and the models and routes that use them."""
    text = DEMO_CONFIG.format(openai=fakes.openai.url, anthropic=fakes.anthropic.url, gemini=fakes.gemini.url)
    head, rest = text.split("models:\n", 1)
    (directory / "demo.yaml").unlink()
    providers, models = directory / "providers.yaml", directory / "models.yaml"
    providers.write_text(head)
    models.write_text("models:\n" + rest)
    return providers, models


def test_a_file_that_does_not_parse_is_reported_alone_and_first(start_gateway: GatewayFactory, demo_config: Path,
                                                                fakes: Fakes, caplog: pytest.LogCaptureFixture) -> None:
    providers, _ = _split_demo_config(demo_config, fakes)
    gateway = start_gateway(demo_config, admin_key=ADMIN, reload=False)
    providers.write_text(providers.read_text().replace("kind: anthropic,", "kind: [anthropic,"))  # unclosed
    with caplog.at_level(logging.ERROR, logger="grove.catalog"):
        resp = httpx.post(f"{gateway.url}/admin/config/reload", headers={"authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 400, resp.text
    errors = resp.json()["errors"]
    assert len(errors) == 1, errors
    assert errors[0]["file"] == str(providers) and errors[0]["message"].startswith("YAML syntax error")
    logged = "\n".join(r.getMessage() for r in caplog.records if "config reload rejected" in r.getMessage())
    assert logged.splitlines()[1].startswith(f"{providers}:") and "YAML syntax error" in logged.splitlines()[1]
    assert "unknown provider" not in logged


def test_each_parsed_file_is_still_checked_after_the_cause() -> None:
    from gateway.catalog import Catalog, ConfigError

    with pytest.raises(ConfigError) as caught:
        Catalog.from_yaml_text({
            "a.yaml": "models:\n  - {id: m, provider: p, context_window: 1000, max_output_tokens: 10,\n"
                      "     capabilities: {reasoning: 5, creativity: 5, precision: 5, speed: 5, context: 5},\n"
                      "     prices: {input_per_mtok: 1, output_per_mtok: 2}}\n",
            "b.yaml": "providers:\n  - id: [\n",
            "c.yaml": "routes: 3\n",
        })
    issues = [str(issue) for issue in caught.value.issues]
    assert issues[0].startswith("b.yaml:3: YAML syntax error: ")
    assert issues[1:] == ["c.yaml:1 routes: must be a list"]  # its own mistake; not a.yaml's "unknown provider"
