"""Each worker of ``grove-gateway serve --workers N`` runs on a CPU of its own; a restarted worker
takes the CPU its predecessor left. Real processes throughout (pinning the test runner itself
would slow the rest of the suite)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from gateway.cpupin import should_pin
from tests.conftest import REPO, free_port

CLAIMER = """
import os, sys
from gateway.cpupin import claim_cpu
got = claim_cpu(int(sys.argv[1]))
print(got[0] if got else "none", ",".join(map(str, sorted(os.sched_getaffinity(0)))), flush=True)
sys.stdin.readline()  # hold the claim until the test lets go
"""


def _claimer(supervisor: int) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen([sys.executable, "-c", CLAIMER, str(supervisor)], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    cpu, affinity = proc.stdout.readline().split()
    return proc, cpu, affinity


def test_workers_claim_a_cpu_each_and_a_restarted_one_takes_the_freed_cpu() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    supervisor = uuid.uuid4().int % 10**9  # a name no other test run uses
    held = [_claimer(supervisor) for _ in cpus]
    try:
        assert [(cpu, affinity) for _, cpu, affinity in held] == [(str(c), str(c)) for c in cpus]
        extra, cpu, affinity = _claimer(supervisor)  # every CPU is taken: this one stays unpinned
        extra.communicate("\n")
        assert cpu == "none" and affinity == ",".join(map(str, cpus))
        held[0][0].communicate("\n")  # the first worker exits
        held[0] = _claimer(supervisor)
        assert held[0][1] == str(cpus[0])
        other, cpu, _ = _claimer(supervisor + 1)  # another gateway's workers do not collide with these
        other.communicate("\n")
        assert cpu == str(cpus[0])
    finally:
        for proc, _, _ in held:
            proc.communicate("\n")


def test_pinning_needs_several_workers_and_a_cpu_for_each() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert [should_pin(n) for n in range(1, cpus + 2)] == [1 < n <= cpus for n in range(1, cpus + 2)]


def test_serve_pins_each_of_its_workers(demo_config: Path) -> None:
    port = free_port()
    env = {**os.environ, "GROVE_CONFIG_DIR": str(demo_config), "GROVE_PORT": str(port), "GROVE_LOG_LEVEL": "info"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--workers", "2"], env=env, cwd=REPO,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        started = 0
        for line in proc.stderr:  # each worker says so once its app (and its pin) is in place
            started += "Application startup complete" in line
            if started == 2:
                break
        assert started == 2, "the workers did not start"
        children = [pid for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                    if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]  # not the resource tracker
        affinities = sorted(tuple(sorted(os.sched_getaffinity(int(pid)))) for pid in children)
        allowed = tuple(sorted(os.sched_getaffinity(0)))
        if should_pin(2):
            assert affinities == [(allowed[0],), (allowed[1],)]
        else:
            assert affinities == [allowed, allowed]
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
