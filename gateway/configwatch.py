"""Watching the config directory by polling: a fingerprint of the files, and a periodic loop.

Polling a handful of small files is cheap (one read of each per interval, in a thread), needs no
dependency, and sees every kind of change: in-place writes, editors' rename-over, Kubernetes
ConfigMap symlink swaps, network filesystems where inotify events never arrive. Contents are
hashed rather than mtimes compared, so two writes within one timestamp tick are not missed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.catalog import ConfigError, read_config_files
from gateway.flusher import honour_cancel

log = logging.getLogger("grove.catalog")


def fingerprint(config_dir: Path) -> str:
    """A hash of the config files' names and contents, and of the files that cannot be read."""
    try:
        files, issues = read_config_files(config_dir)
    except ConfigError as exc:
        return f"error:{exc}"
    digest = hashlib.sha256()
    for name, text in files.items():
        digest.update(f"{name}\0{len(text)}\0".encode() + text.encode())
    for issue in issues:
        digest.update(str(issue).encode())
    return digest.hexdigest()


async def every(interval_s: float, step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` every ``interval_s`` until cancelled; a failed step is logged, not fatal."""
    while True:
        honour_cancel()
        await asyncio.sleep(interval_s)
        try:
            await step()
        except Exception:  # the next step may well succeed: keep the loop alive
            log.exception("catalog background step failed")
