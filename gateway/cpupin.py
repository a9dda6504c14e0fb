"""One CPU per worker: with ``grove-gateway serve --workers N`` (N no more than the CPUs the
process may use), each worker process pins itself to a CPU of its own.

Why: a worker is an event loop plus helper threads (the span exporter's, gRPC's). Left to float
over every CPU, those threads run on the other core, and each hand-over of the GIL between two
cores stalls both. Measured (``python -m bench`` set-up, OTLP at 100 %): two workers on two
cores served ~4,100 req/s floating and ~5,200 pinned, against ~2,950 for one.

How: uvicorn does not tell a worker its number, so each worker claims the first free CPU of its
allowed set by binding an abstract Unix socket named after its supervisor's pid and the CPU.
The kernel frees the name when the worker exits, so a restarted worker takes the CPU its
predecessor left. Linux only; elsewhere nothing is pinned.
"""

from __future__ import annotations

import logging
import os
import socket
import sys

ENV = "GROVE_PIN_WORKERS"
"""Set by ``grove-gateway serve`` for its workers when they should pin themselves."""
log = logging.getLogger("grove.app")


def should_pin(workers: int) -> bool:
    """Pin when there are several workers and a CPU for each."""
    return sys.platform.startswith("linux") and 1 < workers <= len(os.sched_getaffinity(0))


def claim_cpu(supervisor: int) -> tuple[int, socket.socket] | None:
    """Pin this process to the first CPU no other worker of ``supervisor`` holds: the CPU, and
    the claim (keep it open as long as the process runs); None if every CPU is taken."""
    for cpu in sorted(os.sched_getaffinity(0)):
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            claim.bind(f"\0grove-gateway-{supervisor}-cpu{cpu}")
        except OSError:  # another worker holds it
            claim.close()
            continue
        os.sched_setaffinity(0, {cpu})
        log.info("worker %d pinned to CPU %d", os.getpid(), cpu)
        return cpu, claim
    return None
