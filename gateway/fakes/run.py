"""Start the three fake providers on loopback, for tests, benchmarks and the demo.

``start_fakes()`` returns at once with every server listening (the sockets are
bound before the server threads start). Base URLs as the gateway uses them:
OpenAI-compatible ``<openai.url>/v1``; Anthropic ``<anthropic.url>`` (the gateway
appends ``/v1/messages``); Gemini ``<gemini.url>`` (it appends ``/v1beta/models/...``).

``python -m gateway.fakes.run`` serves them in the foreground until interrupted.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from dataclasses import dataclass

from starlette.applications import Starlette

from gateway.fakes.anthropic_fake import create_anthropic_app
from gateway.fakes.background import BackgroundServer
from gateway.fakes.gemini_fake import create_gemini_app
from gateway.fakes.knobs import FakeState
from gateway.fakes.openai_fake import create_openai_app


@dataclass(frozen=True, slots=True)
class FakeServer:
    """One running fake: its server, its knobs and records."""

    name: str
    server: BackgroundServer
    state: FakeState

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return int(self.server.port)


@dataclass(frozen=True, slots=True)
class Fakes:
    openai: FakeServer
    anthropic: FakeServer
    gemini: FakeServer

    def all(self) -> tuple[FakeServer, FakeServer, FakeServer]:
        return (self.openai, self.anthropic, self.gemini)

    def reset(self) -> None:
        """Fresh knobs, records and counters on every fake."""
        for fake in self.all():
            fake.state.reset()

    def stop(self) -> None:
        # In parallel: each server takes a polling tick or two to wind down.
        stoppers = [threading.Thread(target=fake.server.stop) for fake in self.all()]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def __enter__(self) -> Fakes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_FACTORIES: tuple[tuple[str, Callable[[FakeState], Starlette]], ...] = (
    ("openai", create_openai_app),
    ("anthropic", create_anthropic_app),
    ("gemini", create_gemini_app),
)


def start_fakes(host: str = "127.0.0.1", ports: tuple[int, int, int] = (0, 0, 0)) -> Fakes:
    """Start the OpenAI, Anthropic and Gemini fakes (port 0: any free port)."""
    started: list[FakeServer] = []
    try:
        for (name, factory), port in zip(_FACTORIES, ports, strict=True):
            state = FakeState()
            server = BackgroundServer(factory(state), host, port).start()
            started.append(FakeServer(name, server, state))
    except BaseException:
        for fake in started:
            fake.server.stop()
        raise
    return Fakes(*started)


def main(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> None:
    """Serve until interrupted (or until ``stop`` is set)."""
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI, Anthropic and Gemini providers.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", type=int, nargs=3, default=(0, 0, 0), metavar=("OPENAI", "ANTHROPIC", "GEMINI"))
    args = parser.parse_args(argv)
    with start_fakes(args.host, tuple(args.ports)) as fakes:
        print(f"openai     {fakes.openai.url}/v1")
        print(f"anthropic  {fakes.anthropic.url}")
        print(f"gemini     {fakes.gemini.url}")
        print("knobs: POST <url>/_fake/knobs, POST <url>/_fake/reset, GET <url>/_fake/requests", flush=True)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
