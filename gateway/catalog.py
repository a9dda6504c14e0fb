"""The config catalog: operator YAML → a validated, frozen ``Catalog``.

``load_catalog(dir)`` reads every ``*.yaml``/``*.yml`` file directly in ``dir`` (sorted by name),
merges the top-level sections (the lists ``providers``, ``models``, ``routes``, ``keys`` and the
mapping ``components``) across files, validates each entry against ``gateway.catalog_schema``,
checks every cross-reference, and either returns a ``Catalog`` or raises ``ConfigError`` listing
ALL problems as ``file:line key.path: message``. Things that work but deserve attention (a
deprecated model without successor) become ``Catalog.warnings``.

A ``Catalog`` is immutable; its lookups are dicts built once. ``Catalog.version`` is a short
hash of the normalised content, equal on every replica that loads the same config.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway import jsonio
from gateway.catalog_modes import check_modes
from gateway.catalog_schema import (
    PATTERNS,
    SECTIONS,
    Capabilities,
    CapabilityWeights,
    Headers,
    KeySpec,
    LimitsSpec,
    ModelSpec,
    Prices,
    ProviderSpec,
    RouteSpec,
    Slug,
    Supports,
    VariantSpec,
    json_schema,
    split_ref,
    version_key,
)
from gateway.yamlload import (
    ConfigError,
    ConfigIssue,
    KeyPath,
    YamlDocument,
    YamlSyntaxError,
    did_you_mean,
    format_path,
    issues_from,
    load_yaml,
)

# The specs live in gateway.catalog_schema; they are re-exported so ``from gateway.catalog
# import ModelSpec`` keeps working.
__all__ = [
    "Capabilities", "CapabilityWeights", "Catalog", "ConfigError", "ConfigIssue", "Headers", "KeySpec",
    "LimitsSpec", "ModelSpec", "Prices", "ProviderSpec", "RouteSpec", "Supports", "VariantSpec", "format_models_table",
    "json_schema", "load_catalog", "read_config_files", "split_ref", "validate_entry",
]  # fmt: skip

# --- the catalog ----------------------------------------------------------------------------


_STATUS_PREFERENCE = {"active": 0, "deprecated": 1, "retired": 2}


@dataclass(frozen=True, slots=True)
class Catalog:
    """The validated config. Build it with ``load_catalog``/``from_yaml_text``/``from_dict``,
    which check cross-references; the constructor only indexes what it is given."""

    providers: tuple[ProviderSpec, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    components: tuple[tuple[str, str], ...] = ()
    """(component, route name) pairs, in config order."""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    version: str = field(init=False)
    _providers: dict[str, ProviderSpec] = field(init=False, repr=False, compare=False)
    _routes: dict[str, RouteSpec] = field(init=False, repr=False, compare=False)
    _keys: dict[str, KeySpec] = field(init=False, repr=False, compare=False)
    _components: dict[str, str] = field(init=False, repr=False, compare=False)
    _exact: dict[tuple[str, str], ModelSpec] = field(init=False, repr=False, compare=False)
    _versions: dict[str, tuple[ModelSpec, ...]] = field(init=False, repr=False, compare=False)
    _default: dict[str, ModelSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[ModelSpec]] = {}
        for spec in self.models:
            grouped.setdefault(spec.id, []).append(spec)
        versions = {
            mid: tuple(sorted(specs, key=lambda s: version_key(s.version))) for mid, specs in grouped.items()
        }
        # Newest active wins; deprecated only if nothing is active; retired only if all are, so
        # a caller can still answer 410 with the successor.
        default = {
            mid: min(reversed(specs), key=lambda s: _STATUS_PREFERENCE[s.status]) for mid, specs in versions.items()
        }
        setter = object.__setattr__
        setter(self, "_providers", {p.id: p for p in self.providers})
        setter(self, "_routes", {r.name: r for r in self.routes})
        setter(self, "_keys", {k.sha256: k for k in self.keys})
        setter(self, "_components", dict(self.components))
        setter(self, "_exact", {(m.id, m.version): m for m in self.models})
        setter(self, "_versions", versions)
        setter(self, "_default", default)
        content = jsonio.dumps_pretty(self._content())
        setter(self, "version", hashlib.sha256(content).hexdigest()[:12])

    def provider(self, provider_id: str) -> ProviderSpec | None:
        return self._providers.get(provider_id)

    def model(self, model_id: str, version: str | None = None) -> ModelSpec | None:
        """The given version, or the newest active (else deprecated, else retired) one."""
        if version is None:
            return self._default.get(model_id)
        return self._exact.get((model_id, version))

    def resolve(self, ref: str) -> ModelSpec | None:
        """A model reference as written in routes: ``"id"`` or ``"id@version"``."""
        return self.model(*split_ref(ref))

    def versions(self, model_id: str) -> tuple[ModelSpec, ...]:
        """Every version of a model, oldest first."""
        return self._versions.get(model_id, ())

    def route(self, name: str) -> RouteSpec | None:
        return self._routes.get(name)

    def key_for_hash(self, sha256_hex: str) -> KeySpec | None:
        return self._keys.get(sha256_hex)

    def component(self, name: str) -> str | None:
        """The route name (or ``"auto"``) the config assigns to a component."""
        return self._components.get(name)

    def _content(self) -> dict[str, Any]:
        content: dict[str, Any] = {
            section: [spec.model_dump(mode="json") for spec in getattr(self, section)] for section in SECTIONS
        }
        content["components"] = dict(self.components)
        return content

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the four lists, ``components``, ``version`` and ``warnings``."""
        return {**self._content(), "version": self.version, "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<catalog>") -> Catalog:
        """Rebuild (and re-check) a catalog from ``to_dict`` output; a stale ``version`` is an error."""
        body = {k: v for k, v in data.items() if k not in ("version", "warnings")}
        catalog = _build([(source, YamlDocument(body))], [])
        claimed = data.get("version")
        if claimed is not None and claimed != catalog.version:
            raise ConfigError([ConfigIssue(source, None, "version", f"is {claimed!r}, content hashes to {catalog.version!r}")])
        return catalog

    @classmethod
    def from_yaml_text(cls, files: Mapping[str, str], issues: Iterable[ConfigIssue] = ()) -> Catalog:
        """Build from ``{file name: YAML text}``, merged in the mapping's order; ``issues`` are
        problems already found (files that could not be read), reported with the rest."""
        return _from_texts(files, list(issues))


def _from_texts(files: Mapping[str, str], issues: list[ConfigIssue]) -> Catalog:
    documents = []
    for name, text in files.items():
        try:
            documents.append((name, load_yaml(text)))
        except YamlSyntaxError as exc:
            issues.append(ConfigIssue(name, exc.line, "", f"YAML syntax error: {exc.message}"))
    return _build(documents, issues)


def load_catalog(config_dir: str | Path) -> Catalog:
    """Load every ``*.yaml``/``*.yml`` file directly in ``config_dir``; raises ConfigError."""
    files, issues = read_config_files(config_dir)
    if not files and not issues:
        raise ConfigError([ConfigIssue(str(config_dir), None, "", "contains no *.yaml or *.yml files")])
    return _from_texts(files, issues)


def read_config_files(config_dir: str | Path) -> tuple[dict[str, str], list[ConfigIssue]]:
    """The texts of the config files in ``config_dir`` (``{path: text}``, sorted by file name)
    and the files that could not be read; raises ConfigError if it is not a directory."""
    directory = Path(config_dir)
    if not directory.is_dir():
        raise ConfigError([ConfigIssue(str(directory), None, "", "is not a directory")])
    files: dict[str, str] = {}
    issues = []
    # Dotfiles are editor droppings (.#models.yaml), not config.
    paths = [p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")]
    for path in sorted(paths, key=lambda p: p.name):
        try:
            files[str(path)] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            issues.append(ConfigIssue(str(path), None, "", "is not valid UTF-8"))
        except OSError as exc:
            issues.append(ConfigIssue(str(path), None, "", f"cannot be read: {exc.strerror}"))
    return files, issues


def validate_entry(section: str, item: object, *, source: str = "request body") -> Any:
    """One entry of a list section (``models``, ``routes``, ``keys``, ``providers``) checked on
    its own exactly as in a config file, issues' paths relative to the entry; raises ConfigError.
    References to other entries are checked when the entry joins a catalog."""
    cls = SECTIONS[section]
    try:
        return cls.model_validate(item)
    except ValidationError as exc:
        def known(loc: KeyPath) -> set[str]:
            return _known_keys(cls, loc)

        issues = issues_from(exc, file=source, doc=YamlDocument(item), prefix=(), known_keys=known, patterns=PATTERNS)
        raise ConfigError(issues) from None


# --- building: per-entry validation, then cross-references -----------------------------------

_ALL_SECTIONS = (*SECTIONS, "components")
_COMPONENT = TypeAdapter(dict[Slug, Slug])


@dataclass(frozen=True, slots=True)
class _Entry:
    """A validated spec (for a component: its ``(name, route)`` pair) and where it was written."""

    spec: Any
    file: str
    doc: YamlDocument
    at: KeyPath

    def issue(self, sub: KeyPath, message: str) -> ConfigIssue:
        path = (*self.at, *sub)
        return ConfigIssue(self.file, self.doc.line(path), format_path(path), message)

    def where(self) -> str:
        line = self.doc.line(self.at)
        return f"{self.file}{'' if line is None else f':{line}'} {format_path(self.at)}"


@dataclass(slots=True)
class _Parts:
    entries: dict[str, list[_Entry]] = field(default_factory=lambda: {s: [] for s in _ALL_SECTIONS})
    # Ids/names of entries that failed validation: a reference to one is not reported again.
    broken: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in _ALL_SECTIONS})
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def specs(self, section: str) -> tuple[Any, ...]:
        return tuple(entry.spec for entry in self.entries[section])


def _build(documents: list[tuple[str, YamlDocument]], issues: list[ConfigIssue]) -> Catalog:
    """``issues``: files that could not be read or parsed. They come first, and the references
    between entries are then not checked: every reference into the missing file would be a
    follow-on error (a providers file with a syntax error made each model "unknown provider")
    that buries the cause. Each parsed file's own entries are still checked."""
    parts = _Parts(errors=[])
    for file, doc in documents:
        _collect(file, doc, parts)
    if not issues:
        _cross_check(parts)
    if issues or parts.errors:
        raise ConfigError([*sorted(issues, key=_where), *sorted(parts.errors, key=_where)])
    return Catalog(
        providers=parts.specs("providers"),
        models=parts.specs("models"),
        routes=parts.specs("routes"),
        keys=parts.specs("keys"),
        components=parts.specs("components"),
        warnings=tuple(str(w) for w in sorted(parts.warnings, key=lambda i: (i.file, i.line or 0))),
    )


def _where(issue: ConfigIssue) -> tuple[str, int]:
    return issue.file, issue.line or 0


def _collect(file: str, doc: YamlDocument, parts: _Parts) -> None:
    parts.errors.extend(ConfigIssue(file, p.line, format_path(p.path), p.message) for p in doc.problems)
    if doc.data is None:
        return
    if not isinstance(doc.data, dict):
        message = "must be a mapping with some of the keys: " + ", ".join(_ALL_SECTIONS)
        parts.errors.append(ConfigIssue(file, doc.line(()), "", message))
        return
    for section, items in doc.data.items():
        cls = SECTIONS.get(section)
        if section == "components":
            _collect_components(items, file, doc, parts)
        elif cls is None:
            message = f"unknown key {section!r}{did_you_mean(section, _ALL_SECTIONS)}"
            parts.errors.append(ConfigIssue(file, doc.line((section,)), "", message))
        elif items is not None and not isinstance(items, list):
            parts.errors.append(ConfigIssue(file, doc.line((section,)), section, "must be a list"))
        else:
            for index, item in enumerate(items or ()):
                _validate(cls, item, file, doc, (section, index), parts)


def _collect_components(items: object, file: str, doc: YamlDocument, parts: _Parts) -> None:
    if items is not None and not isinstance(items, dict):
        parts.errors.append(ConfigIssue(file, doc.line(("components",)), "components", "must be a mapping"))
        return
    for name, route in (items or {}).items():
        try:  # one pair at a time, so one bad entry does not hide the others
            _COMPONENT.validate_python({name: route})
        except ValidationError as exc:
            issues = issues_from(exc, file=file, doc=doc, prefix=("components",), known_keys=lambda _: (),
                                 patterns=PATTERNS)  # fmt: skip
            parts.errors.extend(issues)
            parts.broken["components"].add(str(name))
            continue
        parts.entries["components"].append(_Entry((name, route), file, doc, ("components", name)))


def _validate(cls: type[BaseModel], item: object, file: str, doc: YamlDocument, at: KeyPath, parts: _Parts) -> None:
    section = str(at[0])
    try:
        spec = cls.model_validate(item)
    except ValidationError as exc:
        def known(loc: KeyPath) -> set[str]:
            return _known_keys(cls, loc)

        parts.errors.extend(issues_from(exc, file=file, doc=doc, prefix=at, known_keys=known, patterns=PATTERNS))
        if isinstance(item, dict):
            parts.broken[section].update(str(item[k]) for k in ("id", "name") if k in item)
        return
    parts.entries[section].append(_Entry(spec, file, doc, at))


def _known_keys(cls: type[BaseModel], loc: KeyPath) -> set[str]:
    """The keys allowed in the mapping at ``loc`` inside a ``cls`` entry."""
    current = cls
    for part in loc:
        if isinstance(part, str):
            info = {f.alias or name: f for name, f in current.model_fields.items()}.get(part)
            nested = _spec_in(info.annotation) if info else None
            if nested is None:
                return set()
            current = nested
    return {f.alias or name for name, f in current.model_fields.items()}


def _spec_in(annotation: object) -> type[BaseModel] | None:
    """The spec class inside an annotation such as ``X``, ``X | None`` or ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is tuple:
        found = (_spec_in(arg) for arg in typing.get_args(annotation))
        return next((spec for spec in found if spec is not None), None)
    return None


def _unique(parts: _Parts, section: str, attr: str, label: Callable[[Any], str]) -> dict[Any, _Entry]:
    """Report every entry whose ``attr`` (for models: id and version) was already taken."""
    first: dict[Any, _Entry] = {}
    for entry in parts.entries[section]:
        if section == "components":
            key, sub = entry.spec[0], ()
        else:
            key = (entry.spec.id, entry.spec.version) if section == "models" else getattr(entry.spec, attr)
            sub = (attr,)
        if key in first:
            message = f"duplicate {label(entry.spec)}, first defined at {first[key].where()}"
            parts.errors.append(entry.issue(sub, message))
        else:
            first[key] = entry
    return first


def _cross_check(parts: _Parts) -> None:
    providers = _unique(parts, "providers", "id", lambda s: f"provider {s.id!r}")
    _unique(parts, "models", "id", lambda s: f"model {s.id!r} (version {s.version!r})")
    routes = _unique(parts, "routes", "name", lambda s: f"route {s.name!r}")
    _unique(parts, "keys", "name", lambda s: f"key {s.name!r}")
    _unique(parts, "keys", "sha256", lambda s: "sha256 (two entries for one client key)")
    components = _unique(parts, "components", "", lambda s: f"component {s[0]!r}")
    probe = Catalog(models=parts.specs("models"))
    model_at: dict[str, _Entry] = {}
    for entry in parts.entries["models"]:
        model_at.setdefault(entry.spec.id, entry)

    def ref(entry: _Entry, sub: KeyPath, text: str, routes_too: bool = False) -> ModelSpec | None:
        found = probe.resolve(text)
        model_id, version = split_ref(text)
        if found is not None or model_id in parts.broken["models"]:
            return found
        if routes_too and (text in routes or text in parts.broken["routes"] or text == "auto"):
            return None
        if model_id in model_at:
            have = ", ".join(repr(m.version) for m in probe.versions(model_id))
            message = f"model {model_id!r} has no version {version!r} (versions: {have})"
        else:
            what, names = ("model or route", {*model_at, *routes}) if routes_too else ("model", set(model_at))
            message = f"unknown {what} {text!r}{did_you_mean(model_id, names)}"
        parts.errors.append(entry.issue(sub, message))
        return None

    def members(entry: _Entry, sub: KeyPath, refs: tuple[str, ...]) -> None:
        for index, text in enumerate(refs):
            if text in refs[:index]:
                parts.errors.append(entry.issue((*sub, index), f"lists {text!r} twice"))
            elif (member := ref(entry, (*sub, index), text)) is not None and member.status != "active":
                successor = f" (successor {member.successor!r})" if member.successor else ""
                parts.warnings.append(entry.issue((*sub, index), f"{text!r} is {member.status}{successor}"))

    used_providers = set()
    for entry in parts.entries["models"]:
        spec: ModelSpec = entry.spec
        used_providers.add(spec.provider)
        if spec.provider not in providers and spec.provider not in parts.broken["providers"]:
            message = f"unknown provider {spec.provider!r}{did_you_mean(spec.provider, providers)}"
            parts.errors.append(entry.issue(("provider",), message))
        if spec.successor is None:
            if spec.status == "deprecated":
                parts.warnings.append(entry.issue(("status",), "is deprecated but names no successor"))
        elif (successor := ref(entry, ("successor",), spec.successor)) is spec:
            parts.errors.append(entry.issue(("successor",), "must name another model, not this one"))
        elif successor is not None and successor.status == "retired":
            parts.warnings.append(entry.issue(("successor",), f"{spec.successor!r} is retired"))
    for pid, entry in providers.items():
        if pid not in used_providers:
            parts.warnings.append(entry.issue(("id",), f"provider {pid!r} is used by no model"))
    for entry in parts.entries["routes"]:
        route: RouteSpec = entry.spec
        if route.name == "auto":
            parts.errors.append(entry.issue(("name",), "'auto' is reserved for the capability-based router"))
        elif route.name in model_at:
            message = f"{route.name!r} is already a model id ({model_at[route.name].where()})"
            parts.errors.append(entry.issue(("name",), message))
        members(entry, ("models",), route.models)
        for index, variant in enumerate(route.variants):
            if variant.name in (v.name for v in route.variants[:index]):
                parts.errors.append(entry.issue(("variants", index, "name"), f"duplicate variant {variant.name!r}"))
            members(entry, ("variants", index, "models"), variant.models)
    parts.errors.extend(check_modes(parts.entries["models"], parts.entries["routes"], probe.resolve))
    for name, entry in components.items():
        target = entry.spec[1]
        if target == "auto" or target in routes or target in parts.broken["routes"]:
            continue
        if target in model_at:
            message = f"{target!r} is a model: a component names a route (or auto)"
        else:
            message = f"unknown route {target!r}{did_you_mean(target, routes)}"
        parts.errors.append(entry.issue((), message))
    for entry in parts.entries["keys"]:
        key: KeySpec = entry.spec
        for index, text in enumerate(key.allowed_models):
            ref(entry, ("allowed_models", index), text, routes_too=True)
        wanted = key.default_component
        if wanted is not None and wanted not in components and wanted not in parts.broken["components"]:
            message = f"unknown component {wanted!r}{did_you_mean(wanted, components)}"
            parts.errors.append(entry.issue(("default_component",), message))
        target = key.default_route
        if target is None or target in parts.broken["routes"]:
            continue
        if target != "auto" and target not in routes:
            if target in model_at:
                message = f"{target!r} is a model: default_route names a route (or auto)"
            else:
                message = f"unknown route {target!r}{did_you_mean(target, routes)}"
            parts.errors.append(entry.issue(("default_route",), message))
        elif key.allowed_models and target not in key.allowed_models and "auto" not in key.allowed_models:
            message = f"{target!r} is not among this key's allowed_models, so the key may not use it"
            parts.errors.append(entry.issue(("default_route",), message))


# --- presentation ---------------------------------------------------------------------------


def format_models_table(catalog: Catalog) -> str:
    """A plain-text table of the models; capabilities are R(easoning) C(reativity) P(recision)
    S(peed) X (conte-x-t)."""
    header = ("ID", "VERSION", "PROVIDER", "STATUS", "CONTEXT", "$IN/MTOK", "$OUT/MTOK", "R", "C", "P", "S", "X")
    rows = [header]
    for m in catalog.models:
        c = m.capabilities
        scores = (f"{v:g}" for v in (c.reasoning, c.creativity, c.precision, c.speed, c.context))
        money = (_money(m.prices.input_per_mtok), _money(m.prices.output_per_mtok))
        rows.append((m.id, m.version, m.provider, m.status, f"{m.context_window:,}", *money, *scores))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) if i >= 4 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _money(value: float) -> str:
    text = f"{value:.4f}".rstrip("0")
    decimals = len(text.partition(".")[2])
    return text + "0" * max(0, 2 - decimals)
