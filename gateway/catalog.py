"""The config catalog: operator YAML → a validated, frozen ``Catalog``.

``load_catalog(dir)`` reads every ``*.yaml``/``*.yml`` file directly in ``dir`` (sorted by name),
merges the top-level lists (``providers``, ``models``, ``routes``, ``keys``) across files,
validates each entry, checks every cross-reference, and either returns a ``Catalog`` or raises
``ConfigError`` listing ALL problems as ``file:line key.path: message``. Things that work but
deserve attention (a deprecated model without successor) become ``Catalog.warnings``.

A ``Catalog`` is immutable; its lookups are dicts built once. ``Catalog.version`` is a short
hash of the normalised content, equal on every replica that loads the same config.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from gateway import jsonio
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

__all__ = [
    "Catalog", "ConfigError", "ConfigIssue", "KeySpec", "ModelSpec", "ProviderSpec", "RouteSpec",
    "format_models_table", "json_schema", "load_catalog", "split_ref",
]  # fmt: skip

# --- the schema -----------------------------------------------------------------------------

_SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
_VERSION = r"^[^@\s]+$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SHA256 = r"^[0-9a-fA-F]{64}$"
_PATTERNS = {
    _SLUG: "must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
    _MODEL_ID: "must be letters, digits, '.', '_', ':', '/' or '-', starting with a letter or digit"
    " (no '@': it separates id and version)",
    _VERSION: "may not contain '@' or spaces",
    _ENV_NAME: "must be the NAME of an environment variable (like OPENAI_API_KEY), not the key itself",
    _SHA256: "must be 64 hex characters: the sha256 of the client's key",
}
# Credentials belong in the environment (api_key_env), never in a config file.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SPEC = ConfigDict(frozen=True, extra="forbid", validate_by_name=False, serialize_by_alias=True)

Slug = Annotated[str, Field(pattern=_SLUG)]
Name = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(strict=True, gt=0)]
PositiveInt = Annotated[int, Field(strict=True, gt=0)]
Score = Annotated[float, Field(strict=True, ge=0, le=10)]
Price = Annotated[float, Field(strict=True, ge=0)]
Flag = Annotated[bool, Field(strict=True)]


def _version_in(value: object) -> object:
    if isinstance(value, date):  # YAML reads an unquoted 2024-07-18 as a date
        raise PydanticCustomError("version", f'must be a string: quote it, "{value.isoformat()}"')
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    _ = parts.port  # raises ValueError ("port out of range 0-65535") for a bad port
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        raise PydanticCustomError("url", "must be an http(s) URL like https://api.openai.com/v1")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise PydanticCustomError("url", "must not have a query or fragment")
    return value.rstrip("/")


class Headers(Mapping[str, str]):
    """Extra static headers of a provider: a read-only, hashable mapping, so a spec is immutable
    all the way down and still spreads with ``**`` like a dict."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items or {})

    def __getitem__(self, name: str) -> str:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            _checked_headers,
            handler.generate_schema(dict[str, str]),
            serialization=core_schema.plain_serializer_function_ser_schema(dict),
        )


def _checked_headers(value: dict[str, str]) -> Headers:
    seen: set[str] = set()
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise PydanticCustomError("headers", f"{name!r} is not a valid header name")
        if name.lower() in _SECRET_HEADERS:
            raise PydanticCustomError("headers", f"{name!r} carries a secret: use api_key_env")
        if name.lower() in seen:
            raise PydanticCustomError("headers", f"{name!r} is given twice")
        if "\n" in text or "\r" in text:
            raise PydanticCustomError("headers", f"{name!r} must have a one-line value")
        seen.add(name.lower())
    return Headers(value)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


VersionText = Annotated[str, Field(pattern=_VERSION)]
Version = Annotated[VersionText, BeforeValidator(_version_in, json_schema_input_type=VersionText | int)]


class ProviderSpec(BaseModel):
    model_config = _SPEC
    id: Slug
    kind: Literal["openai-compatible", "anthropic", "gemini"]
    base_url: Annotated[str, AfterValidator(_base_url)] = Field(
        json_schema_extra={"format": "uri", "pattern": r"^https?://[^\s?#]+$"}
    )
    api_key_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    headers: Annotated[Headers, BeforeValidator(lambda v: {} if v is None else v)] = Field(
        Headers(), json_schema_extra=lambda schema: schema.update(default={})
    )
    timeout_s: Positive = 60.0
    connect_timeout_s: Positive = 5.0


class Capabilities(BaseModel):
    model_config = _SPEC
    reasoning: Score
    creativity: Score
    precision: Score
    speed: Score
    context: Score


class Supports(BaseModel):
    model_config = _SPEC
    tools: Flag = False
    vision: Flag = False
    json_mode: Flag = Field(False, alias="json")
    streaming: Flag = True


class Prices(BaseModel):
    """USD per million tokens."""

    model_config = _SPEC
    input_per_mtok: Price
    output_per_mtok: Price
    cached_input_per_mtok: Price | None = None


class ModelSpec(BaseModel):
    model_config = _SPEC
    id: Annotated[str, Field(pattern=_MODEL_ID)]
    provider: Name
    upstream_model: Name = Field("", description="default: the id", json_schema_extra=_no_default)
    version: Version = "1"
    context_window: PositiveInt
    max_output_tokens: PositiveInt
    capabilities: Capabilities
    supports: Supports = Supports()
    prices: Prices
    status: Literal["active", "deprecated", "retired"] = "active"
    successor: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _upstream_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "upstream_model" not in data and isinstance(data.get("id"), str):
            return {**data, "upstream_model": data["id"]}
        return data

    @field_validator("max_output_tokens")
    @classmethod
    def _fits_window(cls, value: int, info: ValidationInfo) -> int:
        window = info.data.get("context_window")
        if window is not None and value > window:
            raise PydanticCustomError("window", f"must be less than or equal to context_window ({window})")
        return value


class RouteSpec(BaseModel):
    model_config = _SPEC
    name: Slug
    models: Annotated[tuple[Name, ...], Field(min_length=1, description='model ids, or "id@version"')]


class KeySpec(BaseModel):
    model_config = _SPEC
    name: Slug
    sha256: Annotated[str, Field(pattern=_SHA256), AfterValidator(str.lower)]
    allowed_models: Annotated[tuple[Name, ...], Field(description="model ids or route names; empty = all")] = ()


class _ConfigFile(BaseModel):
    """One config file: any subset of the four lists."""

    model_config = ConfigDict(extra="forbid", title="Grove Gateway config file")
    providers: list[ProviderSpec] | None = None
    models: list[ModelSpec] | None = None
    routes: list[RouteSpec] | None = None
    keys: list[KeySpec] | None = None


_SECTIONS: dict[str, type[BaseModel]] = {
    "providers": ProviderSpec, "models": ModelSpec, "routes": RouteSpec, "keys": KeySpec,
}  # fmt: skip


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one config file, for editors."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **_ConfigFile.model_json_schema()}


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"id@version"`` → ``("id", "version")``; ``"id"`` → ``("id", None)``."""
    model_id, at, version = ref.partition("@")
    return model_id, (version if at else None)


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    return tuple(int(run) for run in re.findall(r"\d+", version)), version


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
    warnings: tuple[str, ...] = field(default=(), compare=False)
    version: str = field(init=False)
    _providers: dict[str, ProviderSpec] = field(init=False, repr=False, compare=False)
    _routes: dict[str, RouteSpec] = field(init=False, repr=False, compare=False)
    _keys: dict[str, KeySpec] = field(init=False, repr=False, compare=False)
    _exact: dict[tuple[str, str], ModelSpec] = field(init=False, repr=False, compare=False)
    _versions: dict[str, tuple[ModelSpec, ...]] = field(init=False, repr=False, compare=False)
    _default: dict[str, ModelSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[ModelSpec]] = {}
        for spec in self.models:
            grouped.setdefault(spec.id, []).append(spec)
        versions = {
            mid: tuple(sorted(specs, key=lambda s: _version_key(s.version))) for mid, specs in grouped.items()
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

    def _content(self) -> dict[str, list[dict[str, Any]]]:
        return {
            section: [spec.model_dump(mode="json") for spec in getattr(self, section)] for section in _SECTIONS
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the four lists, ``version`` and ``warnings``."""
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
    def from_yaml_text(cls, files: Mapping[str, str]) -> Catalog:
        """Build from ``{file name: YAML text}``, merged in the mapping's order."""
        return _from_texts(files, [])


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
    if not files and not issues:
        raise ConfigError([ConfigIssue(str(directory), None, "", "contains no *.yaml or *.yml files")])
    return _from_texts(files, issues)


# --- building: per-entry validation, then cross-references -----------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """A validated spec and where it was written."""

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
    entries: dict[str, list[_Entry]] = field(default_factory=lambda: {s: [] for s in _SECTIONS})
    # Ids/names of entries that failed validation: a reference to one is not reported again.
    broken: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in _SECTIONS})
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def specs(self, section: str) -> tuple[Any, ...]:
        return tuple(entry.spec for entry in self.entries[section])


def _build(documents: list[tuple[str, YamlDocument]], issues: list[ConfigIssue]) -> Catalog:
    parts = _Parts(errors=issues)
    for file, doc in documents:
        _collect(file, doc, parts)
    _cross_check(parts)
    if parts.errors:
        raise ConfigError(sorted(parts.errors, key=lambda i: (i.file, i.line or 0)))
    return Catalog(
        providers=parts.specs("providers"),
        models=parts.specs("models"),
        routes=parts.specs("routes"),
        keys=parts.specs("keys"),
        warnings=tuple(str(w) for w in sorted(parts.warnings, key=lambda i: (i.file, i.line or 0))),
    )


def _collect(file: str, doc: YamlDocument, parts: _Parts) -> None:
    parts.errors.extend(ConfigIssue(file, p.line, format_path(p.path), p.message) for p in doc.problems)
    if doc.data is None:
        return
    if not isinstance(doc.data, dict):
        message = "must be a mapping with some of the keys: " + ", ".join(_SECTIONS)
        parts.errors.append(ConfigIssue(file, doc.line(()), "", message))
        return
    for section, items in doc.data.items():
        cls = _SECTIONS.get(section)
        if cls is None:
            message = f"unknown key {section!r}{did_you_mean(section, _SECTIONS)}"
            parts.errors.append(ConfigIssue(file, doc.line((section,)), "", message))
        elif items is not None and not isinstance(items, list):
            parts.errors.append(ConfigIssue(file, doc.line((section,)), section, "must be a list"))
        else:
            for index, item in enumerate(items or ()):
                _validate(cls, item, file, doc, (section, index), parts)


def _validate(cls: type[BaseModel], item: object, file: str, doc: YamlDocument, at: KeyPath, parts: _Parts) -> None:
    section = str(at[0])
    try:
        spec = cls.model_validate(item)
    except ValidationError as exc:
        def known(loc: KeyPath) -> set[str]:
            return _known_keys(cls, loc)

        parts.errors.extend(issues_from(exc, file=file, doc=doc, prefix=at, known_keys=known, patterns=_PATTERNS))
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
            nested = info.annotation if info else None
            if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                return set()
            current = nested
    return {f.alias or name for name, f in current.model_fields.items()}


def _unique(parts: _Parts, section: str, attr: str, label: Callable[[Any], str]) -> dict[Any, _Entry]:
    """Report every entry whose ``attr`` (for models: id and version) was already taken."""
    first: dict[Any, _Entry] = {}
    for entry in parts.entries[section]:
        key = (entry.spec.id, entry.spec.version) if section == "models" else getattr(entry.spec, attr)
        if key in first:
            message = f"duplicate {label(entry.spec)}, first defined at {first[key].where()}"
            parts.errors.append(entry.issue((attr,), message))
        else:
            first[key] = entry
    return first


def _cross_check(parts: _Parts) -> None:
    providers = _unique(parts, "providers", "id", lambda s: f"provider {s.id!r}")
    _unique(parts, "models", "id", lambda s: f"model {s.id!r} (version {s.version!r})")
    routes = _unique(parts, "routes", "name", lambda s: f"route {s.name!r}")
    _unique(parts, "keys", "name", lambda s: f"key {s.name!r}")
    _unique(parts, "keys", "sha256", lambda s: "sha256 (two entries for one client key)")
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
        for index, text in enumerate(route.models):
            if text in route.models[:index]:
                parts.errors.append(entry.issue(("models", index), f"lists {text!r} twice"))
            elif (member := ref(entry, ("models", index), text)) is not None and member.status != "active":
                successor = f" (successor {member.successor!r})" if member.successor else ""
                parts.warnings.append(entry.issue(("models", index), f"{text!r} is {member.status}{successor}"))
    for entry in parts.entries["keys"]:
        for index, text in enumerate(entry.spec.allowed_models):
            ref(entry, ("allowed_models", index), text, routes_too=True)


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
