"""Runtime changes applied on top of the files: replace in place, append, hide; stored and read
back; problems named by entry, not by list index."""

from __future__ import annotations

import hashlib

import pytest

from gateway.catalog import Catalog, ConfigError, KeySpec, ModelSpec, RouteSpec
from gateway.overlay import Overlay, apply, shadowed
from tests.admin_support import OPENAI_ONLY, new_model

KEYS = "keys:\n  - {name: ops, sha256: %s}\n" % hashlib.sha256(b"k").hexdigest()


@pytest.fixture
def files() -> Catalog:
    return Catalog.from_yaml_text({"gateway.yaml": OPENAI_ONLY.format(openai="http://127.0.0.1:9"), "keys.yaml": KEYS})


def model(model_id: str, **changes: object) -> ModelSpec:
    return ModelSpec.model_validate(new_model(model_id, **changes))


def test_an_empty_overlay_is_the_files(files: Catalog) -> None:
    assert apply(files, Overlay()) is files
    assert Overlay().empty and not Overlay(deleted_keys=frozenset({"x"})).empty


def test_entries_replace_in_place_or_append(files: Catalog) -> None:
    overlay = (Overlay().put_model(model("gpt-4.1-mini", upstream_model="patched")).put_model(model("new"))
               .put_route(RouteSpec.model_validate({"name": "default", "models": ["new"]}))
               .put_route(RouteSpec.model_validate({"name": "extra", "models": ["gpt-4o-mini"]})))  # fmt: skip
    catalog = apply(files, overlay)
    assert [(m.id, m.upstream_model) for m in catalog.models] == [
        ("gpt-4.1-mini", "patched"), ("gpt-4o-mini", "gpt-4o-mini"), ("new", "new")]
    assert [(r.name, r.models) for r in catalog.routes] == [("default", ("new",)), ("extra", ("gpt-4o-mini",))]
    # Putting the same identity again replaces the overlay's own entry.
    again = overlay.put_model(model("new", upstream_model="v2"))
    assert len(again.models) == 2 and apply(files, again).model("new").upstream_model == "v2"  # type: ignore[union-attr]
    assert shadowed(files, overlay) == ["models[gpt-4.1-mini@1]", "routes[default]"]


def test_deletions_hide_the_files_entries(files: Catalog) -> None:
    key = KeySpec.model_validate({"name": "app", "sha256": "a" * 64})
    overlay = (Overlay().put_route(RouteSpec.model_validate({"name": "default", "models": ["gpt-4.1-mini"]}))
               .drop_model("gpt-4o-mini").put_key(key).drop_key("ops"))  # fmt: skip
    catalog = apply(files, overlay)
    assert [m.id for m in catalog.models] == ["gpt-4.1-mini"] and [k.name for k in catalog.keys] == ["app"]
    # Registered again after its deletion: only the new entry, not the files' versions.
    back = apply(files, overlay.put_model(model("gpt-4o-mini", version="9")))
    assert [m.version for m in back.versions("gpt-4o-mini")] == ["9"]
    assert overlay.drop_key("app").keys == ()
    assert set(shadowed(files, overlay)) == {"models[gpt-4o-mini@2024-07-18]", "routes[default]", "keys[ops]"}


def test_problems_name_the_entry(files: Catalog) -> None:
    overlay = Overlay().put_route(RouteSpec.model_validate({"name": "r", "models": ["gpt-4.1-mini", "nope"]}))
    with pytest.raises(ConfigError) as info:
        apply(files, overlay.drop_model("gpt-4o-mini").put_model(model("m", provider="nowhere")))
    assert sorted((i.file, i.path) for i in info.value.issues) == [
        ("runtime changes", "models[m@1].provider"), ("runtime changes", "routes[default].models[1]"),
        ("runtime changes", "routes[r].models[1]")]


def test_stored_and_read_back(files: Catalog) -> None:
    overlay = (Overlay().put_model(model("new")).drop_model("gpt-4o-mini").drop_key("ops")
               .put_route(RouteSpec.model_validate({"name": "default", "models": ["new"]}))
               .put_route(RouteSpec.model_validate({"name": "w", "strategy": "weighted",
                                                    "variants": [{"name": "a", "weight": 1, "models": ["new"]}]}))
               .put_key(KeySpec.model_validate({"name": "app", "sha256": "A" * 64, "allowed_models": ["w"]})))  # fmt: skip
    assert Overlay.decode(overlay.encode()) == overlay
    assert Overlay.decode(None) == Overlay()
    assert apply(files, Overlay.decode(overlay.encode())).version == apply(files, overlay).version


@pytest.mark.parametrize(("raw", "message"), [
    (b"{", "is not valid JSON"), (b"[]", "must be a JSON object"),
    (b'{"models": [{"id": "x"}], "routes": [{"name": "r", "models": []}]}', "is required"),
])  # fmt: skip
def test_unreadable_stored_changes(raw: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Overlay.decode(raw)
    assert message in str(info.value)
    if raw.startswith(b'{"models"'):
        paths = {i.path for i in info.value.issues}
        assert "models[0].provider" in paths and "routes[0].models" in paths
