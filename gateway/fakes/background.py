"""Run an ASGI app with uvicorn on a loopback port, in a daemon thread with its own loop.

The listening socket is bound before the thread starts, so the port is known and
connections queue in the backlog at once: callers never wait for start-up.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn

from gateway.httpserver import HttpProtocol


class BackgroundServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, http: type = HttpProtocol,
                 timeout_keep_alive: int = 5) -> None:
        self.app = app
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
        # listening socket says so; without it each keep-alive reply waits ~40 ms (Nagle).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(2048)
        self.host, self.port = self.sock.getsockname()[:2]
        # The gateway's own HTTP protocol by default, for the fakes too: tests see what production serves.
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", http=http,
                                timeout_keep_alive=timeout_keep_alive)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"server:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self.sock]))

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
