"""The catalog's models flattened for the hot path, and model references resolved through the
lifecycle once per catalog version.

A ``Row`` holds what the constraints and the score read, as plain attributes (no pydantic
lookups per request). ``ModelTable.resolve`` applies the registry's lifecycle rule to a
reference written in a route: a retired model is replaced by its successor (followed up to 8
hops), and one without a successor cannot serve.

Embedding models: their ``context_window`` bounds each input of a request, not the request (the
embeddings endpoint checks it per input), so the context constraint, which reads a request's
whole input, leaves them alone. ``everything()`` (``auto``, and capability routes that list no
models) holds chat models only: a route serves one mode (``gateway.catalog_modes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.catalog import Catalog, ModelSpec
from gateway.routing.decision import Exclusion
from gateway.routing.hints import Needs

_MAX_SUCCESSOR_HOPS = 8
DEFAULT_OUTPUT_TOKENS = 1024
"""Output assumed when the client sets no max_tokens: min(this, the model's max output)."""

_PER_INPUT_WINDOW = 2**62
"""An embedding model's window for routing: its real one applies per input (see above)."""

# Feature bits: what a request uses / what a model supports.
VISION, TOOLS, JSON_MODE, STREAMING = 1, 2, 4, 8


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    """Deployment key, ``"id@version"``."""
    spec: ModelSpec
    status: str
    deprecated: bool
    window: int
    max_out: int
    default_out: int
    """``min(max_out, DEFAULT_OUTPUT_TOKENS)``"""
    room: int
    """Input tokens that fit beside ``default_out``."""
    caps: Needs
    usd_in: float
    """USD per input token."""
    usd_out: float
    vision: bool
    tools: bool
    json_mode: bool
    streaming: bool
    bits: int
    """The VISION/TOOLS/JSON_MODE/STREAMING bits the model supports."""

    @classmethod
    def of(cls, spec: ModelSpec) -> Row:
        c = spec.capabilities
        s = spec.supports
        default_out = min(spec.max_output_tokens, DEFAULT_OUTPUT_TOKENS)
        window = spec.context_window if spec.mode == "chat" else _PER_INPUT_WINDOW
        return cls(
            key=key_of(spec),
            spec=spec,
            status=spec.status,
            deprecated=spec.status == "deprecated",
            window=window,
            max_out=spec.max_output_tokens,
            default_out=default_out,
            room=window - default_out,
            caps=(c.reasoning, c.creativity, c.precision, c.speed, c.context),
            usd_in=spec.prices.input_per_mtok / 1e6,
            usd_out=spec.prices.output_per_mtok / 1e6,
            vision=s.vision,
            tools=s.tools,
            json_mode=s.json_mode,
            streaming=s.streaming,
            bits=VISION * s.vision | TOOLS * s.tools | JSON_MODE * s.json_mode | STREAMING * s.streaming,
        )


def key_of(spec: ModelSpec) -> str:
    return f"{spec.id}@{spec.version}"


class ModelTable:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.rows: dict[str, Row] = {key_of(spec): Row.of(spec) for spec in catalog.models}

    def resolve(self, ref: str) -> tuple[Row | None, Exclusion | None]:
        """The row serving a reference (``"id"`` or ``"id@version"``), and a note when the model
        it names is retired. ``(None, None)``: no such model; ``(None, note)``: retired for good."""
        spec = self.catalog.resolve(ref)
        if spec is None:
            return None, None
        named = spec
        hops = 0
        while spec.status == "retired":
            successor = self.catalog.resolve(spec.successor) if spec.successor else None
            hops += 1
            if successor is None or hops > _MAX_SUCCESSOR_HOPS:
                return None, Exclusion(key_of(named), "retired, and no successor serves in its place", "retired")
            spec = successor
        row = self.rows[key_of(spec)]
        if spec is named:
            return row, None
        return row, Exclusion(key_of(named), f"retired: its successor {row.key} serves in its place", "retired")

    def members(self, refs: tuple[str, ...]) -> tuple[tuple[Row, ...], tuple[Exclusion, ...]]:
        """Rows for a route's list, in order, each once; notes for the retired ones."""
        rows: list[Row] = []
        notes: list[Exclusion] = []
        for ref in refs:
            row, note = self.resolve(ref)
            if note is not None:
                notes.append(note)
            if row is not None and row not in rows:
                rows.append(row)
        return tuple(rows), tuple(notes)

    def everything(self) -> tuple[Row, ...]:
        """One chat-model row per model id that still serves (its default version), in catalog order."""
        rows: list[Row] = []
        for spec in self.catalog.models:
            chosen = self.catalog.model(spec.id)
            if chosen is spec and spec.status != "retired" and spec.mode == "chat":
                rows.append(self.rows[key_of(spec)])
        return tuple(rows)
