"""Stored responses: what ``GET /v1/responses/{id}`` answers and ``previous_response_id`` continues.

One store key per response holds the response object, the key that created it, its input
items (with ids, as ``input_items`` lists them) and the conversation before that input (the
expanded ``previous_response_id`` chain). A follow-up then rebuilds its whole conversation
with one read, on any replica (Redis) and whatever provider serves it next, and a response
whose predecessors have expired still continues. Entries expire after ``ttl_s``.

Writes go in the background (a stream's end does not wait for them; a non-stream answer does,
so the client can read back what it got at once); a write that fails is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from gateway import jsonio
from gateway.store import Store, StoreUnavailable

log = logging.getLogger("grove.responses")

KEY = "grove:responses:{id}"
DEFAULT_TTL_S = 30 * 24 * 3600.0
"""OpenAI keeps stored responses 30 days."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    owner: str | None
    """The client key's name (None on a gateway without keys)."""
    response: dict[str, Any]
    input: list[dict[str, Any]]
    context: list[dict[str, Any]]

    def conversation(self) -> list[dict[str, Any]]:
        """The items a follow-up continues: the context, this input, then this output."""
        return [*self.context, *self.input, *self.response.get("output", ())]


class ResponseStore:
    def __init__(self, store: Store, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._writes: set[asyncio.Task[None]] = set()

    async def get(self, response_id: str) -> StoredResponse | None:
        """Raises StoreUnavailable when the store cannot be asked."""
        raw = await self.store.get(KEY.format(id=response_id))
        if raw is None:
            return None
        data = jsonio.loads(raw)
        return StoredResponse(data.get("owner"), data["response"], data["input"], data["context"])

    async def delete(self, response_id: str) -> bool:
        return await self.store.delete(KEY.format(id=response_id))

    def save_later(self, record: StoredResponse) -> asyncio.Task[None]:
        """The write, started; awaiting it never raises."""
        task = asyncio.get_running_loop().create_task(self._save(record))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def _save(self, record: StoredResponse) -> None:
        body = jsonio.dumps({"owner": record.owner, "response": record.response, "input": record.input,
                             "context": record.context})
        try:
            await self.store.set(KEY.format(id=record.response["id"]), body, ttl_s=self.ttl_s)
        except StoreUnavailable as exc:
            log.warning("response %s not stored: %s", record.response.get("id"), exc)

    async def drain(self) -> None:
        """Wait for the writes in flight (shutdown)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)


def item_id(prefix: str) -> str:
    """An id in OpenAI's style (``resp_``, ``msg_``, ``fc_`` + 48 hex digits)."""
    return prefix + secrets.token_hex(24)


def with_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as ``input_items`` lists them: each with an id, a message's text as parts."""
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type") or "message"
        entry = {**item, "type": kind}
        if "id" not in entry:
            entry["id"] = item_id(_ID_PREFIX.get(kind, "item_"))
        if kind == "message" and isinstance(entry.get("content"), str):
            part = "output_text" if entry.get("role") == "assistant" else "input_text"
            entry["content"] = [{"type": part, "text": entry["content"]}]
        out.append(entry)
    return out


_ID_PREFIX = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_", "reasoning": "rs_"}
