"""The operator's commands, run as a subprocess exactly as typed in a shell."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from gateway.cli import main
from tests.conftest import REPO


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_config_check_on_the_example_config() -> None:
    done = _cli("config", "check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("config ok: 3 providers")


def test_config_check_names_file_line_and_key_path(tmp_path: Path) -> None:
    shutil.copy(REPO / "config" / "providers.yaml", tmp_path)
    (tmp_path / "models.yaml").write_text(
        "models:\n"
        "  - id: good\n"
        "    provider: openai\n"
        "    context_window: 1000\n"
        "    max_output_tokens: 100\n"
        "    capabilities: {reasoning: 1, creativity: 1, precision: 1, speed: 1, context: 1}\n"
        "    prices: {input_per_mtok: 1, output_per_mtok: 2}\n"
        "  - id: bad\n"
        "    provider: openai\n"
        "    context_window: 0\n"
        "    max_output_tokens: 100\n"
        "    contxt: 3\n"
        "    capabilities: {reasoning: 11, creativity: 1, precision: 1, speed: 1, context: 1}\n"
        "    prices: {input_per_mtok: 1, output_per_mtok: 2}\n"
    )
    done = _cli("config", "check", "--config", str(tmp_path))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    models = str(tmp_path / "models.yaml")
    assert f"{models}:10 models[1].context_window: must be greater than 0" in lines
    assert f"{models}:12 models[1]: unknown key 'contxt' (did you mean 'context_window'?)" in lines
    assert f"{models}:13 models[1].capabilities.reasoning: must be less than or equal to 10" in lines
    assert lines[-1].startswith("config check: 3 error(s)")


def test_config_check_on_a_missing_directory(tmp_path: Path) -> None:
    done = _cli("config", "check", "--config", str(tmp_path / "nope"))
    assert done.returncode == 1 and "is not a directory" in done.stderr


def test_config_schema_is_json_schema() -> None:
    done = _cli("config", "schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"providers", "models", "routes", "keys"} <= set(schema["properties"])


def test_models_table(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["models", "--config", str(REPO / "config")]) == 0
    out = capsys.readouterr().out
    for model in ("gpt-4.1-mini", "claude-sonnet-4-5", "gemini-2.5-flash"):
        assert model in out
    assert "deprecated" in out


def test_models_on_a_broken_config(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "x.yaml").write_text("models: [\n")
    assert main(["models", "--config", str(tmp_path)]) == 1
    assert "YAML syntax error" in capsys.readouterr().err


def test_no_command_prints_help(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_bad_setting_is_reported(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GROVE_PORT", "eighty")
    assert main(["config", "check"]) == 2
    assert "GROVE_PORT" in capsys.readouterr().err


def test_route_explain_prints_the_decision_without_calling_upstreams(tmp_path: Path) -> None:
    done = _cli("route", "explain", "--model", "auto", "--prompt", "Prove that sqrt(2) is irrational.",
                "--capabilities", "reasoning=3")
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["strategy"] == "capability" and decision["needs_source"] == "hint"
    assert len(decision["chain"]) == 3
    scores = [c["score"] for c in decision["candidates"] if c["status"] == "active"]  # deprecated rank last
    assert scores == sorted(scores, reverse=True)
    assert decision["chain"] == [c["key"] for c in decision["candidates"][:3]]

    request = tmp_path / "req.json"
    request.write_text(json.dumps({"model": "smart", "messages": [{"role": "user", "content": "hi"}]}))
    done = _cli("route", "explain", "--request", str(request))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["chain"][0].startswith("claude-sonnet-4-5@")


def test_route_explain_reports_bad_input() -> None:
    done = _cli("route", "explain", "--model", "auto", "--prompt", "hi", "--capabilities", "bogus=1")
    assert done.returncode == 1 and "unknown capability 'bogus'" in done.stderr
    assert _cli("route", "explain", "--prompt", "hi").returncode == 2
    done = _cli("route", "explain", "--model", "nope", "--prompt", "hi")
    assert done.returncode == 1 and "404" in done.stderr
