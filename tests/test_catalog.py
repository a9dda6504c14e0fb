"""Tests for gateway.catalog: the example config, every validation rule, lookups, versions,
round trips and the JSON Schema.

Broken fixtures live in tests/data/catalog/broken/; each states the exact issues it must
produce in ``# expect:`` lines, so a fixture documents its rule and its message together.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway import jsonio
from gateway.catalog import (
    Catalog,
    ConfigError,
    ConfigIssue,
    format_models_table,
    json_schema,
    load_catalog,
    split_ref,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "catalog"
BROKEN = sorted((DATA / "broken").glob("*.yaml"))
HEX = "ab" * 32


def tagged(text: str, tag: str) -> list[str]:
    prefix = f"# {tag}: "
    return [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]


def issues_of(files: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Catalog.from_yaml_text(files)
    return [str(issue) for issue in caught.value.issues]


def model(model_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": model_id,
        "provider": "openai",
        "context_window": 1000,
        "max_output_tokens": 100,
        "capabilities": {"reasoning": 5, "creativity": 5, "precision": 5, "speed": 5, "context": 5},
        "prices": {"input_per_mtok": 1, "output_per_mtok": 2},
        **extra,
    }


def catalog_of(*models: dict[str, Any], **sections: Any) -> Catalog:
    provider = {"id": "openai", "kind": "openai-compatible", "base_url": "https://api.openai.com/v1"}
    return Catalog.from_dict({"providers": [provider], "models": list(models), **sections})


# --- the example config ------------------------------------------------------------------------


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.chdir(ROOT)
    return load_catalog("config")


def test_example_config_loads_clean(example: Catalog) -> None:
    assert example.warnings == ()
    assert [p.id for p in example.providers] == ["openai", "anthropic", "gemini"]
    assert example.keys == ()
    anthropic = example.provider("anthropic")
    assert anthropic is not None
    assert (anthropic.kind, anthropic.base_url, anthropic.api_key_env) == (
        "anthropic",
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
    )
    assert {r.name for r in example.routes} == {"default", "fast", "smart", "reasoning", "haiku-vs-flash"}
    assert {r.name: r.strategy for r in example.routes}["haiku-vs-flash"] == "weighted"
    assert dict(example.components) == {"planner": "reasoning", "summarizer": "fast"}


def test_example_models_are_consistent(example: Catalog) -> None:
    ids = {m.id for m in example.models}
    assert {"gpt-4.1", "gpt-4.1-mini", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5"} <= ids
    assert {"gemini-2.5-pro", "gemini-2.5-flash"} <= ids
    old = example.model("gpt-4o-mini")
    assert old is not None and old.status == "deprecated" and old.successor == "gpt-4.1-mini"
    sonnet = example.model("claude-sonnet-4-5")
    assert sonnet is not None and sonnet.upstream_model == "claude-sonnet-4-5-20250929"
    flash = example.model("gemini-2.5-flash")
    assert flash is not None and flash.upstream_model == "gemini-2.5-flash" and flash.version == "1"
    for route in example.routes:
        for ref in (*route.models, *(ref for variant in route.variants for ref in variant.models)):
            spec = example.resolve(ref)
            assert spec is not None and spec.status == "active", ref


# --- every rule, from fixtures -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", BROKEN, ids=lambda p: p.stem)
def test_broken_fixture_reports_exactly_its_issues(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    expected = tagged(text, "expect")
    assert expected, "a fixture without expectations tests nothing"
    with pytest.raises(ConfigError) as caught:
        Catalog.from_yaml_text({fixture.name: text})
    assert [str(issue) for issue in caught.value.issues] == expected
    assert str(caught.value) == "\n".join(expected)


def test_warnings_fixture_loads_with_exactly_its_warnings() -> None:
    text = (DATA / "warnings" / "catalog.yaml").read_text(encoding="utf-8")
    catalog = Catalog.from_yaml_text({"catalog.yaml": text})
    assert list(catalog.warnings) == tagged(text, "warn")
    assert len(catalog.warnings) == 6


def test_issue_line_is_that_of_the_key_in_block_and_flow_style() -> None:
    block = "models:\n  - id: m\n    provider: p\n    context_window: -5\n"
    assert "x.yaml:4 models[0].context_window: must be greater than 0" in issues_of({"x.yaml": block})
    flow = "models:\n  - {id: m,\n     context_window: -5}\n"
    assert "x.yaml:3 models[0].context_window: must be greater than 0" in issues_of({"x.yaml": flow})


def test_missing_field_points_at_the_mapping_that_lacks_it() -> None:
    text = "models:\n  - id: m\n    provider: openai\n    capabilities:\n      reasoning: 1\n"
    issues = issues_of({"x.yaml": text})
    assert "x.yaml:2 models[0].context_window: is required" in issues
    assert "x.yaml:4 models[0].capabilities.speed: is required" in issues


def test_a_broken_provider_does_not_cascade_into_unknown_provider_errors() -> None:
    text = (
        "providers:\n  - {id: openai, kind: openai-compatible, base_url: nowhere}\n"
        f"models:\n  - {jsonio.dumps(model('m')).decode()}\n"
    )
    assert issues_of({"x.yaml": text}) == [
        "x.yaml:2 providers[0].base_url: must be an http(s) URL like https://api.openai.com/v1"
    ]


def test_broken_routes_and_models_do_not_cascade_either() -> None:
    with pytest.raises(ConfigError) as caught:
        catalog_of(
            model("m", context_window=0),
            routes=[{"name": "r", "models": ["m"]}, {"name": "Bad", "models": ["m"]}],
            keys=[{"name": "k", "sha256": HEX, "allowed_models": ["m", "Bad", "r"]}],
        )
    assert [str(i) for i in caught.value.issues] == [
        "<catalog> models[0].context_window: must be greater than 0",
        "<catalog> routes[1].name: must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://a.example:99999", "port out of range 0-65535"),
        ("http://[::1", "invalid IPv6 URL"),
        ("https://a b.example", "must be an http(s) URL like https://api.openai.com/v1"),
        ("api.openai.com/v1", "must be an http(s) URL like https://api.openai.com/v1"),
        ("https://a.example/v1#frag", "must not have a query or fragment"),
    ],
)
def test_base_url_rules(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Catalog.from_dict({"providers": [{"id": "p", "kind": "gemini", "base_url": url}]})
    assert str(caught.value) == f"<catalog> providers[0].base_url: {message}"


def test_supports_json_is_spelled_json() -> None:
    catalog = catalog_of(model("m", supports={"json": True}))
    spec = catalog.model("m")
    assert spec is not None and spec.supports.json_mode is True
    assert spec.supports.streaming is True and spec.supports.tools is False
    text = "models:\n  - id: m\n    supports: {json_mode: true}\n"
    assert "x.yaml:3 models[0].supports: unknown key 'json_mode' (did you mean 'json'?)" in issues_of(
        {"x.yaml": text}
    )


def test_all_files_are_checked_and_syntax_errors_name_their_line() -> None:
    issues = issues_of({"a.yaml": "providers:\n  - id: [\n", "b.yaml": "models: 3\n"})
    assert issues[0].startswith("a.yaml:3: YAML syntax error: ")
    assert issues[1] == "b.yaml:1 models: must be a list"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("providers: &x [*x]\n", "x.yaml:1: YAML syntax error: recursive alias"),
        ("providers: !!set {a, b}\n", "x.yaml:1: YAML syntax error: unsupported tag 'tag:yaml.org,2002:set'"),
        ("? [a]\n: b\n", "x.yaml:1: YAML syntax error: mapping keys must be plain values"),
        ("a: 1\n---\nb: 2\n", "x.yaml:2: YAML syntax error: but found another document (expected a single document in the stream)"),
    ],
)
def test_yaml_the_loader_refuses(text: str, expected: str) -> None:
    assert issues_of({"x.yaml": text}) == [expected]


def test_merge_keys_work_and_overriding_a_merged_key_is_not_a_duplicate() -> None:
    text = (
        "providers:\n  - {id: openai, kind: openai-compatible, base_url: https://a.example}\n"
        "models:\n"
        "  - &base\n    id: m1\n    provider: openai\n    context_window: 1000\n    max_output_tokens: 100\n"
        "    capabilities: {reasoning: 5, creativity: 5, precision: 5, speed: 5, context: 5}\n"
        "    prices: {input_per_mtok: 1, output_per_mtok: 2}\n"
        "  - <<: *base\n    id: m2\n    context_window: 0\n"
    )
    assert issues_of({"x.yaml": text}) == ["x.yaml:13 models[1].context_window: must be greater than 0"]
    catalog = Catalog.from_yaml_text({"x.yaml": text.replace("context_window: 0", "context_window: 500")})
    m2 = catalog.model("m2")
    assert m2 is not None and m2.context_window == 500 and m2.prices.output_per_mtok == 2


def test_empty_files_and_empty_sections_are_fine() -> None:
    catalog = Catalog.from_yaml_text({"a.yaml": "# nothing yet\n", "b.yaml": "models:\nkeys: []\n"})
    assert catalog.models == () and catalog.keys == () and catalog.warnings == ()


def test_provider_normalisation_and_defaults() -> None:
    provider = {
        "id": "openai",
        "kind": "openai-compatible",
        "base_url": "https://api.openai.com/v1/",
        "headers": {"OpenAI-Organization": "org-1", "X-Team": "ml"},
    }
    catalog = Catalog.from_dict({"providers": [provider], "models": [model("m", version=2)]})
    spec = catalog.provider("openai")
    assert spec is not None
    assert spec.base_url == "https://api.openai.com/v1"
    # Providers spread the headers into their own: the mapping must behave like a dict.
    assert {"content-type": "application/json", **spec.headers} == {
        "content-type": "application/json",
        "OpenAI-Organization": "org-1",
        "X-Team": "ml",
    }
    assert hash(Catalog.from_dict(catalog.to_dict())) == hash(catalog)
    assert (spec.timeout_s, spec.connect_timeout_s, spec.api_key_env) == (60.0, 5.0, None)
    assert catalog.to_dict()["providers"][0]["headers"] == {"OpenAI-Organization": "org-1", "X-Team": "ml"}
    m = catalog.model("m")
    assert m is not None and m.version == "2" and m.upstream_model == "m" and m.status == "active"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("{x-api-key: abc}", "'x-api-key' carries a secret: use api_key_env"),
        ('{"bad name": v}', "'bad name' is not a valid header name"),
        ("{X-Team: a, x-team: b}", "'x-team' is given twice"),
        ('{X-Team: "a\\r\\nX-Evil: 1"}', "'X-Team' must have a one-line value"),
    ],
)
def test_provider_headers_rules(headers: str, message: str) -> None:
    text = f"providers:\n  - id: p\n    kind: gemini\n    base_url: https://a.example\n    headers: {headers}\n"
    assert issues_of({"x.yaml": text}) == [f"x.yaml:5 providers[0].headers: {message}"]


def test_provider_header_values_are_strings() -> None:
    text = "providers:\n  - id: p\n    kind: gemini\n    base_url: https://a.example\n    headers:\n      X-Team: 7\n"
    assert issues_of({"x.yaml": text}) == ["x.yaml:6 providers[0].headers.X-Team: must be a string"]
    text = text.replace("X-Team: 7", "7: X-Team")
    assert issues_of({"x.yaml": text}) == ["x.yaml:6 providers[0].headers: key 7 must be a string"]


def test_provider_headers_may_be_left_empty() -> None:
    text = "providers:\n  - {id: p, kind: gemini, base_url: https://a.example, headers: }\n"
    spec = Catalog.from_yaml_text({"x.yaml": text}).provider("p")
    assert spec is not None and spec.headers == {} and len(spec.headers) == 0


def test_key_hashes_are_normalised_to_lowercase() -> None:
    catalog = catalog_of(model("m"), keys=[{"name": "app", "sha256": HEX.upper(), "allowed_models": ["m"]}])
    key = catalog.key_for_hash(HEX)
    assert key is not None and key.name == "app" and key.allowed_models == ("m",)


# --- loading a directory -----------------------------------------------------------------------


def test_load_catalog_merges_files_and_names_both_places_of_a_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    # nested/, .hidden.yaml and notes.txt would each add an error if they were read.
    monkeypatch.chdir(ROOT)
    with pytest.raises(ConfigError) as caught:
        load_catalog("tests/data/catalog/split")
    assert str(caught.value) == (
        "tests/data/catalog/split/30-more-models.yaml:10 models[1].id: duplicate model 'm1' (version '1'),"
        " first defined at tests/data/catalog/split/20-models.yml:3 models[0]"
    )


def test_load_catalog_reads_files_in_name_order(tmp_path: Path) -> None:
    shutil.copytree(DATA / "split", tmp_path, dirs_exist_ok=True)
    (tmp_path / "30-more-models.yaml").unlink()
    (tmp_path / "40-routes.yaml").write_text("routes: [{name: one, models: [m1]}]\n")
    (tmp_path / "05-models.yaml").write_text(
        "models:\n  - " + jsonio.dumps(model("m0")).decode() + "\n", encoding="utf-8"
    )
    catalog = load_catalog(tmp_path)
    assert [m.id for m in catalog.models] == ["m0", "m1"]
    assert catalog.route("one") is not None


def test_load_catalog_directory_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope: is not a directory$"):
        load_catalog(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r": contains no \*\.yaml or \*\.yml files$"):
        load_catalog(tmp_path)


def test_load_catalog_reports_unreadable_files_with_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"models: [\xff]\n")
    (tmp_path / "b.yaml").write_text("modles: []\n")
    (tmp_path / "c.yaml").mkdir()
    (tmp_path / "d.yaml").write_text("# a control character\nkeys: [\x07]\n")
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    # The files that could not be read or parsed first: they may be the cause of the rest.
    assert [str(i) for i in caught.value.issues] == [
        f"{tmp_path / 'a.yaml'}: is not valid UTF-8",
        f"{tmp_path / 'c.yaml'}: cannot be read: Is a directory",
        f"{tmp_path / 'd.yaml'}:2: YAML syntax error: unacceptable character #x0007",
        f"{tmp_path / 'b.yaml'}:1: unknown key 'modles' (did you mean 'models'?)",
    ]


def test_issue_formatting_without_line_or_path() -> None:
    assert str(ConfigIssue("a.yaml", None, "", "is not valid UTF-8")) == "a.yaml: is not valid UTF-8"
    assert str(ConfigIssue("a.yaml", None, "models", "must be a list")) == "a.yaml models: must be a list"
    assert str(ConfigIssue("a.yaml", 3, "", "bad")) == "a.yaml:3: bad"
    error = ConfigError([ConfigIssue("a", 1, "x", "m"), ConfigIssue("b", 2, "y", "n")])
    assert str(error) == "a:1 x: m\nb:2 y: n"


# --- versions ----------------------------------------------------------------------------------


def test_model_picks_the_newest_active_version_naturally() -> None:
    catalog = catalog_of(
        model("m", version="2"),
        model("m", version="10"),
        model("m", version="9"),
        model("m", version="11", status="deprecated"),
        model("m", version="12", status="retired"),
        routes=[{"name": "pinned", "models": ["m@9", "m"]}],
    )
    picked = catalog.model("m")
    assert picked is not None and picked.version == "10"
    assert [m.version for m in catalog.versions("m")] == ["2", "9", "10", "11", "12"]
    exact = catalog.model("m", "11")
    assert exact is not None and exact.status == "deprecated"
    assert catalog.model("m", "3") is None and catalog.model("nope") is None
    pinned = catalog.resolve("m@9")
    assert pinned is not None and pinned.version == "9"
    assert catalog.versions("nope") == ()


def test_without_active_versions_deprecated_then_retired_are_picked() -> None:
    deprecated = catalog_of(
        model("m", version="2024-10-03", status="deprecated"),
        model("m", version="2025-01-31", status="retired"),
        model("m", version="2024-07-18", status="deprecated"),
    )
    picked = deprecated.model("m")
    assert picked is not None and picked.version == "2024-10-03"
    retired = catalog_of(model("m", version="1.9", status="retired"), model("m", version="1.10", status="retired"))
    picked = retired.model("m")
    assert picked is not None and picked.version == "1.10"


@given(st.lists(st.lists(st.integers(0, 3000), min_size=1, max_size=3), min_size=1, max_size=6, unique_by=tuple))
def test_newest_version_is_the_numeric_maximum(parts: list[list[int]]) -> None:
    versions = [".".join(map(str, p)) for p in parts]
    catalog = catalog_of(*(model("m", version=v) for v in versions))
    picked = catalog.model("m")
    assert picked is not None
    assert picked.version == ".".join(map(str, max(parts)))


def test_split_ref() -> None:
    assert split_ref("gpt-4o") == ("gpt-4o", None)
    assert split_ref("gpt-4o@2024-08-06") == ("gpt-4o", "2024-08-06")


# --- identity, round trip, immutability --------------------------------------------------------


def test_round_trip_through_json_keeps_everything(example: Catalog) -> None:
    published = jsonio.loads(jsonio.dumps(example.to_dict()))
    again = Catalog.from_dict(published)
    assert again == example
    assert again.version == example.version == published["version"]
    assert again.model("claude-haiku-4-5") == example.model("claude-haiku-4-5")


def test_from_dict_refuses_a_version_that_does_not_match_the_content(example: Catalog) -> None:
    published = example.to_dict()
    published["models"][0]["prices"]["input_per_mtok"] = 0.0
    with pytest.raises(ConfigError) as caught:
        Catalog.from_dict(published)
    assert str(caught.value).startswith(f"<catalog> version: is '{example.version}', content hashes to ")


def test_from_dict_checks_like_the_loader() -> None:
    with pytest.raises(ConfigError, match=r"^<catalog> routes\[0\]\.models\[0\]: unknown model 'x'$"):
        Catalog.from_dict({"routes": [{"name": "r", "models": ["x"]}]})


def test_version_is_stable_and_tracks_content(example: Catalog, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "elsewhere")
    assert load_catalog(tmp_path / "elsewhere").version == example.version
    assert len(example.version) == 12 and int(example.version, 16) >= 0
    models = tmp_path / "elsewhere" / "models.yaml"
    models.write_text(models.read_text().replace("input_per_mtok: 2.00", "input_per_mtok: 2.01"))
    assert load_catalog(tmp_path / "elsewhere").version != example.version


def test_catalog_and_specs_are_frozen(example: Catalog) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.version = "x"  # type: ignore[misc]
    spec = example.model("gpt-4.1")
    assert spec is not None
    with pytest.raises(ValidationError):
        spec.context_window = 1  # type: ignore[misc]
    assert isinstance(example.models, tuple) and isinstance(spec.capabilities.reasoning, float)


# --- schema and table --------------------------------------------------------------------------


def test_json_schema_accepts_the_example_files() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((ROOT / "config").glob("*.yaml"))
    assert len(files) == 4
    for path in files:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], path


@pytest.mark.parametrize(
    "document",
    [
        {"models": [{**model("m"), "contxt_window": 5}]},
        {"models": [model("m", context_window=0)]},
        {"models": [model("m", capabilities={"reasoning": 5})]},
        {"providers": [{"id": "OpenAI", "kind": "openai-compatible", "base_url": "https://a.example"}]},
        {"providers": [{"id": "p", "kind": "openai-compatible", "base_url": "https://a.example?x=1"}]},
        {"keys": [{"name": "k", "sha256": "abc"}]},
        {"routes": [{"name": "r", "models": []}]},
        {"modles": []},
    ],
)
def test_json_schema_rejects_broken_files(document: dict[str, Any]) -> None:
    assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(document)) != []


def test_models_table(example: Catalog) -> None:
    table = format_models_table(example)
    lines = table.splitlines()
    assert lines[0].split() == [
        "ID", "VERSION", "PROVIDER", "STATUS", "CONTEXT", "$IN/MTOK", "$OUT/MTOK", "R", "C", "P", "S", "X",
    ]  # fmt: skip
    assert len(lines) == 1 + len(example.models)
    for spec in example.models:
        assert any(line.startswith(spec.id + " ") for line in lines[1:]), spec.id
    mini = next(line for line in lines if line.startswith("gpt-4o-mini "))
    assert mini.split() == ["gpt-4o-mini", "2024-07-18", "openai", "deprecated", "128,000", "0.15", "0.60", "5", "6", "6", "9", "6"]
    small = format_models_table(catalog_of(model("m", prices={"input_per_mtok": 0.075, "output_per_mtok": 15})))
    assert small.splitlines()[1].split()[5:7] == ["0.075", "15.00"]


# --- route strategies and components -----------------------------------------------------------


def test_a_route_with_only_models_is_a_chain_and_strategy_defaults_fill_in() -> None:
    catalog = catalog_of(
        model("m"),
        model("n"),
        routes=[
            {"name": "plain", "models": ["m", "n"]},
            {"name": "split", "strategy": "weighted", "variants": [{"name": "a", "weight": 1, "models": ["m"]}]},
            {"name": "smart", "strategy": "capability"},
            {"name": "tuned", "strategy": "capability", "models": ["n"], "weights": {"speed": 2}, "price_weight": 0,
             "latency_weight": 1, "error_weight": 3, "fallbacks": 1},
        ],
    )  # fmt: skip
    plain, split, smart, tuned = (catalog.route(n) for n in ("plain", "split", "smart", "tuned"))
    assert plain is not None and (plain.strategy, plain.models, plain.variants, plain.fallbacks) == (
        "chain", ("m", "n"), (), None,
    )  # fmt: skip
    assert (plain.sticky, plain.weights, plain.price_weight) == (None, None, None)
    assert split is not None and (split.sticky, split.models, split.variants[0].weight) == ("user", (), 1.0)
    assert smart is not None and (smart.models, smart.weights, smart.fallbacks) == ((), None, 3)
    assert (smart.price_weight, smart.latency_weight, smart.error_weight) == (0.3, 0.2, 1.0)
    assert tuned is not None and tuned.weights is not None
    assert tuned.weights.vector() == (0.0, 0.0, 0.0, 2.0, 0.0)
    assert (tuned.price_weight, tuned.latency_weight, tuned.error_weight, tuned.fallbacks) == (0.0, 1.0, 3.0, 1)


def test_routes_and_components_round_trip() -> None:
    catalog = catalog_of(
        model("m"),
        routes=[
            {"name": "split", "strategy": "weighted", "sticky": "key",
             "variants": [{"name": "a", "weight": 3, "models": ["m"]}, {"name": "b", "weight": 1, "models": ["m"]}]},
            {"name": "smart", "strategy": "capability", "weights": {"reasoning": 1}},
        ],
        components={"planner": "smart", "anything": "auto"},
        keys=[{"name": "k", "sha256": HEX, "default_component": "planner"}],
    )  # fmt: skip
    published = jsonio.loads(jsonio.dumps(catalog.to_dict()))
    assert published["routes"][0] == {
        "name": "split", "strategy": "weighted", "sticky": "key",
        "variants": [{"name": "a", "weight": 3.0, "models": ["m"]}, {"name": "b", "weight": 1.0, "models": ["m"]}],
    }  # fmt: skip
    assert published["components"] == {"planner": "smart", "anything": "auto"}
    again = Catalog.from_dict(published)
    assert again == catalog and again.version == catalog.version
    assert again.component("planner") == "smart" and again.component("nope") is None
    assert again.keys[0].default_component == "planner"


def test_components_merge_across_files_and_a_component_is_defined_once() -> None:
    models_text = "providers: []\n"
    first = "components:\n  planner: auto\n"
    catalog = Catalog.from_yaml_text({"a.yaml": models_text, "b.yaml": first, "c.yaml": "components:\n  chat: auto\n"})
    assert catalog.components == (("planner", "auto"), ("chat", "auto"))
    assert issues_of({"b.yaml": first, "c.yaml": "\ncomponents:\n  planner: auto\n"}) == [
        "c.yaml:3 components.planner: duplicate component 'planner', first defined at b.yaml:2 components.planner"
    ]
    assert issues_of({"x.yaml": "components: [planner]\n"}) == ["x.yaml:1 components: must be a mapping"]
    assert Catalog.from_yaml_text({"x.yaml": "components:\n"}).components == ()


def test_a_broken_route_is_not_reported_again_by_the_components_naming_it() -> None:
    assert issues_of({"x.yaml": "routes:\n  - {name: r, strategy: weighted}\ncomponents:\n  planner: r\n"}) == [
        "x.yaml:2 routes[0].variants: is required"
    ]


@pytest.mark.parametrize(
    "route",
    [
        {"name": "r", "strategy": "weighted"},
        {"name": "r", "strategy": "weighted", "models": ["m"], "variants": [{"name": "a", "weight": 1, "models": ["m"]}]},
        {"name": "r", "models": ["m"], "weights": {"speed": 1}},
        {"name": "r", "strategy": "capability", "sticky": "user"},
        {"name": "r", "strategy": "chain"},
        {"name": "r", "strategy": "weighted", "variants": [{"name": "a", "weight": 0, "models": ["m"]}]},
        {"name": "r", "strategy": "weighted", "variants": []},
    ],
)
def test_json_schema_knows_the_strategy_rules(route: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors({"routes": [route]})) != []
    with pytest.raises(ConfigError):
        catalog_of(model("m"), routes=[route])


def test_json_schema_accepts_every_strategy_and_checks_component_names() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    good = {
        "routes": [
            {"name": "a", "models": ["m"]},
            {"name": "b", "strategy": "capability", "weights": {"reasoning": 2}, "fallbacks": 2},
            {"name": "c", "strategy": "weighted", "sticky": "none", "variants": [{"name": "x", "weight": 1, "models": ["m"]}]},
        ],
        "components": {"planner": "b"},
        "keys": [{"name": "k", "sha256": HEX, "default_component": "planner"}],
    }  # fmt: skip
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({"components": {"Planner": "b"}})) != []


def test_unknown_keys_inside_variants_and_weights_get_a_suggestion() -> None:
    text = (
        "routes:\n"
        "  - name: r\n    strategy: weighted\n    variants:\n      - {name: a, weight: 1, modls: [m]}\n"
        "  - name: s\n    strategy: capability\n    weights: {sped: 1}\n"
    )
    assert issues_of({"x.yaml": text}) == [
        "x.yaml:5 routes[0].variants[0].models: is required",
        "x.yaml:5 routes[0].variants[0]: unknown key 'modls' (did you mean 'models'?)",
        "x.yaml:8 routes[1].weights: unknown key 'sped' (did you mean 'speed'?)",
    ]


# --- client keys: limits and default routes ------------------------------------------------------


def test_key_limits_and_default_route_round_trip_and_are_in_the_schema() -> None:
    keys = [
        {"name": "k", "sha256": HEX, "allowed_models": ["r"], "default_route": "r",
         "limits": {"rpm": 60, "tpm": 100_000, "budget_usd_day": 5, "budget_usd_month": 99.5}},
        {"name": "open", "sha256": "cd" * 32},
    ]  # fmt: skip
    catalog = catalog_of(model("m"), routes=[{"name": "r", "models": ["m"]}], keys=keys)
    limited, plain = catalog.keys
    assert limited.default_route == "r" and limited.limits is not None
    assert (limited.limits.rpm, limited.limits.tpm) == (60, 100_000)
    assert (limited.limits.budget_usd_day, limited.limits.budget_usd_month) == (5.0, 99.5)
    assert plain.limits is None and plain.default_route is None
    again = Catalog.from_dict(jsonio.loads(jsonio.dumps(catalog.to_dict())))
    assert again == catalog and again.version == catalog.version
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors({"keys": keys})) == []
    for bad in ({"rpm": 0}, {"tpm": 1.5}, {"budget_usd_day": 0}, {"rmp": 1}):
        assert list(validator.iter_errors({"keys": [{**keys[1], "limits": bad}]})) != [], bad
    properties = json_schema()["$defs"]["LimitsSpec"]["properties"]
    assert all(properties[name].get("description") for name in ("rpm", "tpm", "budget_usd_day", "budget_usd_month"))
