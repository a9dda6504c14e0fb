"""Runtime changes to the catalog (the "overlay"): kept in the store, applied on top of the files.

An ``Overlay`` holds whole entries, not a history of operations: the model versions, routes and
keys added or replaced at run time, and the model ids and key names deleted at run time.
Applying it to the catalog loaded from the config files is deterministic and idempotent:

- an overlay model version (same id and version), route (same name) or key (same name) replaces
  the files' entry in place, or is appended after the files' entries;
- a deleted model id hides every version the files define; a deleted key name hides the files'
  key. Entries the overlay itself adds after a deletion stay.

So runtime changes win over the files until they are dropped (``Overlay()``); ``shadowed``
names the file entries they hide, for the operator. The result is validated exactly as a config
directory is (``Catalog.from_dict``); its problems name the entry by id, not by list index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from gateway import jsonio
from gateway.catalog import Catalog, ConfigError, ConfigIssue, KeySpec, ModelSpec, RouteSpec, validate_entry

SOURCE = "runtime changes"
"""How issues found in the effective catalog (files + overlay) name their source."""


@dataclass(frozen=True, slots=True)
class Overlay:
    models: tuple[ModelSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    deleted_models: frozenset[str] = frozenset()
    deleted_keys: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.models or self.routes or self.keys or self.deleted_models or self.deleted_keys)

    # --- edits: each returns a new overlay ---------------------------------------------------

    def put_model(self, spec: ModelSpec) -> Overlay:
        others = tuple(m for m in self.models if (m.id, m.version) != (spec.id, spec.version))
        return replace(self, models=_in_place(self.models, others, spec, lambda m: (m.id, m.version)))

    def drop_model(self, model_id: str) -> Overlay:
        return replace(self, models=tuple(m for m in self.models if m.id != model_id),
                       deleted_models=self.deleted_models | {model_id})  # fmt: skip

    def put_route(self, spec: RouteSpec) -> Overlay:
        others = tuple(r for r in self.routes if r.name != spec.name)
        return replace(self, routes=_in_place(self.routes, others, spec, lambda r: r.name))

    def put_key(self, spec: KeySpec) -> Overlay:
        others = tuple(k for k in self.keys if k.name != spec.name)
        return replace(self, keys=_in_place(self.keys, others, spec, lambda k: k.name))

    def drop_key(self, name: str) -> Overlay:
        return replace(self, keys=tuple(k for k in self.keys if k.name != name),
                       deleted_keys=self.deleted_keys | {name})  # fmt: skip

    # --- where an effective entry came from --------------------------------------------------

    def has_model(self, model_id: str, version: str) -> bool:
        return any((m.id, m.version) == (model_id, version) for m in self.models)

    def has_route(self, name: str) -> bool:
        return any(r.name == name for r in self.routes)

    def has_key(self, name: str) -> bool:
        return any(k.name == name for k in self.keys)

    # --- storage -----------------------------------------------------------------------------

    def encode(self) -> bytes:
        return jsonio.dumps({
            "models": [m.model_dump(mode="json") for m in self.models],
            "routes": [r.model_dump(mode="json") for r in self.routes],
            "keys": [k.model_dump(mode="json") for k in self.keys],
            "deleted_models": sorted(self.deleted_models),
            "deleted_keys": sorted(self.deleted_keys),
        })  # fmt: skip

    @classmethod
    def decode(cls, raw: bytes | None, *, source: str = "stored runtime changes") -> Overlay:
        """Parse what ``encode`` wrote, re-validating every entry; raises ConfigError."""
        if raw is None:
            return cls()
        try:
            data = jsonio.loads(raw)
        except jsonio.JSONDecodeError:
            raise ConfigError([ConfigIssue(source, None, "", "is not valid JSON")]) from None
        if not isinstance(data, dict):
            raise ConfigError([ConfigIssue(source, None, "", "must be a JSON object")])
        issues: list[ConfigIssue] = []

        def entries(section: str) -> tuple[Any, ...]:
            found = []
            for index, item in enumerate(data.get(section) or ()):
                try:
                    found.append(validate_entry(section, item, source=source))
                except ConfigError as exc:
                    issues.extend(replace(i, path=f"{section}[{index}].{i.path}".rstrip(".")) for i in exc.issues)
            return tuple(found)

        overlay = cls(
            models=entries("models"), routes=entries("routes"), keys=entries("keys"),
            deleted_models=frozenset(str(x) for x in data.get("deleted_models") or ()),
            deleted_keys=frozenset(str(x) for x in data.get("deleted_keys") or ()),
        )  # fmt: skip
        if issues:
            raise ConfigError(issues)
        return overlay


def _in_place(current: tuple[Any, ...], others: tuple[Any, ...], spec: Any, ident: Any) -> tuple[Any, ...]:
    """``current`` with the entry of ``spec``'s identity replaced by ``spec``, else ``spec`` appended."""
    if len(others) == len(current):
        return (*current, spec)
    return tuple(spec if ident(item) == ident(spec) else item for item in current)


# --- applying -----------------------------------------------------------------------------------


def effective_content(files: Catalog, overlay: Overlay) -> dict[str, Any]:
    """The ``Catalog.to_dict`` content (without version and warnings) of files + overlay."""
    put_models = {(m.id, m.version): m for m in overlay.models}
    kept_models = [m for m in files.models if m.id not in overlay.deleted_models]
    put_routes = {r.name: r for r in overlay.routes}
    put_keys = {k.name: k for k in overlay.keys}
    kept_keys = [k for k in files.keys if k.name not in overlay.deleted_keys]
    return {
        "providers": [p.model_dump(mode="json") for p in files.providers],
        "models": _merged(kept_models, put_models, lambda m: (m.id, m.version)),
        "routes": _merged(list(files.routes), put_routes, lambda r: r.name),
        "keys": _merged(kept_keys, put_keys, lambda k: k.name),
        "components": dict(files.components),
    }


def _merged(base: list[Any], put: dict[Any, Any], ident: Any) -> list[dict[str, Any]]:
    seen = set()
    out = []
    for spec in base:
        key = ident(spec)
        seen.add(key)
        out.append(put.get(key, spec).model_dump(mode="json"))
    out.extend(spec.model_dump(mode="json") for key, spec in put.items() if key not in seen)
    return out


def apply(files: Catalog, overlay: Overlay) -> Catalog:
    """Files + overlay, validated as a config is; raises ConfigError naming entries by id."""
    if overlay.empty:
        return files
    content = effective_content(files, overlay)
    try:
        return Catalog.from_dict(content, source=SOURCE)
    except ConfigError as exc:
        raise ConfigError([_named(issue, content) for issue in exc.issues]) from None


_INDEXED = re.compile(r"^(providers|models|routes|keys)\[(\d+)\](.*)$")


def _named(issue: ConfigIssue, content: dict[str, Any]) -> ConfigIssue:
    """``models[7].provider`` → ``models[gpt-x@2].provider``: an index means nothing to whoever
    made the change, and there is no file line to go with it."""
    match = _INDEXED.match(issue.path)
    if match is None:
        return issue
    section, index, rest = match.group(1), int(match.group(2)), match.group(3)
    entry = content[section][index]
    name = f"{entry['id']}@{entry['version']}" if section == "models" else entry.get("name", entry.get("id"))
    return replace(issue, path=f"{section}[{name}]{rest}")


def shadowed(files: Catalog, overlay: Overlay) -> list[str]:
    """The file entries the overlay replaces or hides, as ``models[id@version]`` etc."""
    out = [f"models[{m.id}@{m.version}]" for m in files.models
           if m.id in overlay.deleted_models or overlay.has_model(m.id, m.version)]  # fmt: skip
    out += [f"routes[{r.name}]" for r in files.routes if overlay.has_route(r.name)]
    out += [f"keys[{k.name}]" for k in files.keys if k.name in overlay.deleted_keys or overlay.has_key(k.name)]
    return out
