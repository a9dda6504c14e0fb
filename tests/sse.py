"""A small server-sent-events reader over an httpx streaming response, for the tests.

Reading blocks until the server sends something; the client's read timeout is the deadline
(a test that waits for an event that never comes fails with ``httpx.ReadTimeout``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway import jsonio


@dataclass
class SSEEvent:
    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return dict(jsonio.loads(self.data))


class SSE:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: Iterator[str] = response.iter_lines()
        self.comments: list[str] = []

    def next(self) -> SSEEvent | None:
        """The next event with data (comments and retry lines are collected); None at the end."""
        current = SSEEvent()
        for line in self._lines:
            if line == "":
                if current.data:
                    return current
                current = SSEEvent()
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    current.data += value
                elif name in ("id", "event"):
                    setattr(current, name, value)
        return None

    def until(self, kind: str) -> SSEEvent:
        """Events up to the first of ``kind`` (the others are skipped)."""
        while True:
            event = self.next()
            if event is None:
                raise AssertionError(f"the stream ended before a {kind!r} event")
            if event.event == kind:
                return event
