"""What the admin endpoints for runtime changes share: reading a JSON body, answering JSON,
validating an entry as a config file would, merge patches, and where an entry came from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.catalog import Catalog, ConfigError, validate_entry
from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.livecatalog import invalid

JSON = "application/json"
MAX_BODY_BYTES = 4 * 1024 * 1024  # a whole config directory fits many times over

Handler = Callable[[Request], Awaitable[Response]]
Guard = Callable[[Handler], Handler]
M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request) -> bytes:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The request body exceeds the admin limit of {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` when ``optional``."""
    raw = await read_body(request)
    if not raw.strip() and optional:
        return {}
    try:
        data = jsonio.loads(raw)
    except jsonio.JSONDecodeError:
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return data


def parse(model: type[M], data: dict[str, Any]) -> M:
    """A small action body (pydantic at the boundary); the first problem names its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in err["loc"])
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InvalidRequest(f"{field}: {message}", param=field or None) from None


def entry(section: str, data: object) -> Any:
    """One config entry validated exactly as in a config file; a 400 naming the field otherwise."""
    try:
        return validate_entry(section, data)
    except ConfigError as exc:
        raise invalid(exc) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key (back to its
    default), anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def respond(data: object, status: int = 200) -> Response:
    return Response(jsonio.dumps(data), status_code=status, media_type=JSON)


def origin(found_in_files: object, spec: object) -> str:
    """``file`` when the config files hold exactly this entry, else ``runtime`` (added or
    changed through the admin API)."""
    return "file" if found_in_files is not None and found_in_files == spec else "runtime"


def dump(spec: BaseModel) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def served(catalog: Catalog) -> dict[str, Any]:
    return {"registry_version": catalog.version}
