"""YAML documents that remember where each value came from, and issues that point back there.

``load_yaml`` parses with PyYAML's safe loader and returns the plain Python data together with
a map from key path (``("models", 2, "context_window")``) to the 1-based source line. Duplicate
keys, which PyYAML would silently collapse to the last one, are reported as problems. Syntax
errors become ``YamlSyntaxError`` with the line.

``ConfigIssue`` is one located problem (``file:line path: message``) and ``issues_from``
translates a pydantic ``ValidationError`` into such issues with plain phrasing, so every config
loader speaks to operators the same way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

KeyPath = tuple[object, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem, located: ``str()`` gives ``file:line path: message``."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """Every problem found in a configuration, not just the first."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class YamlProblem:
    """A structural problem the YAML parser lets through (a duplicate key)."""

    path: KeyPath
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class YamlDocument:
    data: Any
    lines: Mapping[KeyPath, int] = field(default_factory=dict)
    problems: tuple[YamlProblem, ...] = ()

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that exists in the source."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None


def load_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; raises YamlSyntaxError (with the line) if it is not valid YAML."""
    try:
        return _load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or "invalid YAML"
        if exc.context:
            message = f"{message} ({exc.context})"
        raise YamlSyntaxError(None if mark is None else mark.line + 1, message) from None
    except yaml.reader.ReaderError as exc:
        # Raised while decoding, before marks exist: count lines up to the bad character.
        line = text.count("\n", 0, exc.position) + 1
        raise YamlSyntaxError(line, f"unacceptable character #x{exc.character:04x}") from None


def dump_yaml(data: Any) -> str:
    """Block-style YAML that ``load_yaml`` reads back to equal data: keys in the given order,
    strings that would read as something else (``"2025-04-14"``, ``"1"``) quoted."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def _load(text: str) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None)
        walker = _Walker(loader)
        walker.lines[()] = node.start_mark.line + 1
        data = walker.walk(node, ())
        return YamlDocument(data, walker.lines, tuple(walker.problems))
    finally:
        loader.dispose()


class _Walker:
    """Builds the data from composed nodes, recording each key's line on the way."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[YamlProblem] = []
        self._open: set[int] = set()

    def walk(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        line = node.start_mark.line + 1
        if node.tag not in _PLAIN_COLLECTION_TAGS:
            raise YamlSyntaxError(line, f"unsupported tag {node.tag!r}")
        if id(node) in self._open:
            raise YamlSyntaxError(line, "recursive alias")
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    self.lines[(*path, index)] = item.start_mark.line + 1
                    items.append(self.walk(item, (*path, index)))
                return items
            return self._mapping(node, path)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[object, Any]:
        # Duplicates are looked for before merge keys are expanded: overriding a merged key is
        # legitimate YAML, writing the same key twice by hand is a typo.
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                message = f"duplicate key {key!r} (first at line {seen[key]})"
                self.problems.append(YamlProblem((*path, key), line, message))
            else:
                seen[key] = line
        self.loader.flatten_mapping(node)
        out: dict[object, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.walk(value_node, (*path, key))
        return out

    def _key(self, node: yaml.Node) -> object:
        if not isinstance(node, yaml.ScalarNode):
            raise YamlSyntaxError(node.start_mark.line + 1, "mapping keys must be plain values")
        # Scalars construct to str, int, float, bool, None, dates or bytes: all hashable.
        key: object = self.loader.construct_object(node, deep=True)
        return key


# --- pydantic errors as located issues --------------------------------------------------------


def format_path(path: KeyPath) -> str:
    """``("models", 2, "context_window")`` → ``models[2].context_window``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: object, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def issues_from(
    exc: ValidationError,
    *,
    file: str,
    doc: YamlDocument,
    prefix: KeyPath,
    known_keys: Callable[[KeyPath], Collection[str]],
    patterns: Mapping[str, str],
) -> list[ConfigIssue]:
    """Translate pydantic errors for the value at ``prefix`` of ``doc`` into located issues.

    ``known_keys(loc)`` gives the allowed keys of the mapping at ``loc`` (for "did you mean");
    ``patterns`` maps a regex used in the schema to the plain sentence that explains it.
    """
    issues = []
    for err in exc.errors(include_url=False):
        loc: KeyPath = (*prefix, *err["loc"])
        kind = err["type"]
        if kind == "missing":
            # The key is absent, so point at the mapping that lacks it.
            issues.append(ConfigIssue(file, doc.line(loc[:-1]), format_path(loc), "is required"))
        elif kind == "extra_forbidden":
            key = loc[-1]
            hint = did_you_mean(key, known_keys(tuple(err["loc"][:-1])))
            issues.append(
                ConfigIssue(file, doc.line(loc), format_path(loc[:-1]), f"unknown key {key!r}{hint}")
            )
        elif loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key rather than its value
            line = doc.line(loc[:-1])
            message = f"key {loc[-2]!r} {_plain(err, patterns)}"
            issues.append(ConfigIssue(file, line, format_path(loc[:-2]), message))
        else:
            message = _plain(err, patterns)
            issues.append(ConfigIssue(file, doc.line(loc), format_path(loc), message))
    return issues


_PLAIN = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "string_too_short": "must not be empty",
}


def _plain(err: ErrorDetails, patterns: Mapping[str, str]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind == "greater_than":
        return f"must be greater than {_num(ctx['gt'])}"
    if kind == "greater_than_equal":
        return f"must be greater than or equal to {_num(ctx['ge'])}"
    if kind == "less_than_equal":
        return f"must be less than or equal to {_num(ctx['le'])}"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return f"must have at least {count} {'entry' if count == 1 else 'entries'}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        got = err.get("input")
        hint = did_you_mean(got, choices) if isinstance(got, str) else ""
        return f"must be one of {', '.join(map(repr, choices))}, not {got!r}{hint}"
    if kind == "string_pattern_mismatch":
        return patterns.get(str(ctx.get("pattern")), f"must match {ctx.get('pattern')}")
    message = str(err["msg"])
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
