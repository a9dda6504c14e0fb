"""Reliability against real gateways and the real fakes: what counts against an upstream's
breaker, and what only the client or a departed client caused."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.replies import WORDS_PER_PIECE
from gateway.fakes.run import Fakes
from tests.conftest import REDIS_URL, GatewayFactory

HI = [{"role": "user", "content": "hi"}]
ADMIN = "admin-secret-for-tests"
PRIMARY, FALLBACK = "gpt-4.1-mini@1", "claude-sonnet-4-5@1"
LONG_REPLY = " ".join(f"word{i}" for i in range(40))


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)


def _breakers(gateway: BackgroundServer) -> dict[str, str]:
    resp = httpx.get(f"{gateway.url}/admin/breakers", headers={"authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 200, resp.text
    return {b["deployment"]: b["state"] for b in resp.json()["data"]}


def test_streams_cut_after_their_first_chunk_open_the_breaker(start_gateway: GatewayFactory, demo_config: Path,
                                                              fakes: Fakes, request: pytest.FixtureRequest) -> None:
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0, breaker_failures=5)
    fakes.openai.state.set(cut_after_chunks=3, reply=LONG_REPLY)
    client = _client(gateway)
    request.addfinalizer(client.close)
    served: list[str] = []
    for _ in range(12):
        raw = client.chat.completions.with_raw_response.create(model="default", messages=HI, stream=True)
        served.append(raw.headers["x-grove-model"])
        if served[-1] == PRIMARY:
            with pytest.raises(openai.APIError):  # the cut ends the stream with an error event
                for _chunk in raw.parse():
                    pass
        else:
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            assert "fake-anthropic" in text
    # Five cut streams are five failures in a row: the breaker opens and the fallback serves.
    assert served[:5] == [PRIMARY] * 5
    assert served[5:] == [FALLBACK] * 7
    assert _breakers(gateway)[PRIMARY] == "open"


def test_a_complete_stream_still_counts_as_a_success(start_gateway: GatewayFactory, demo_config: Path,
                                                     fakes: Fakes, request: pytest.FixtureRequest) -> None:
    # Four cuts, then a whole stream, then four cuts: a success between them resets the streak.
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0, breaker_failures=5)
    client = _client(gateway)
    request.addfinalizer(client.close)
    for cut in (True, True, True, True, False, True, True, True, True):
        fakes.openai.state.set(cut_after_chunks=3 if cut else None, reply=LONG_REPLY)
        raw = client.chat.completions.with_raw_response.create(model="default", messages=HI, stream=True)
        assert raw.headers["x-grove-model"] == PRIMARY
        try:
            for _chunk in raw.parse():
                pass
        except openai.APIError:
            assert cut
    assert _breakers(gateway)[PRIMARY] == "closed"



def test_a_stream_the_client_cancels_is_neither_success_nor_failure(start_gateway: GatewayFactory,
                                                                    demo_config: Path, fakes: Fakes) -> None:
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0, breaker_failures=5)
    state = fakes.openai.state
    state.set(cut_after_chunks=3, reply=LONG_REPLY)
    with _client(gateway) as client:
        for _ in range(2):  # two failures in a row
            with pytest.raises(openai.APIError):
                for _chunk in client.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True):
                    pass
    # A stream the client leaves mid-way (after its first chunks): no success resets the streak.
    state.set(cut_after_chunks=None, hold_after_chunks=3)
    sock = _send_chat(gateway, "gpt-4.1-mini", stream=True)
    assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    sock.close()
    assert state.wait_for(lambda: state.counters.get("disconnects", 0) == 1)
    breaker = _primary_breaker(gateway)
    assert breaker["state"] == "closed" and breaker["consecutive_failures"] == 2


# --- a client that stops reading ---------------------------------------------------------------

BIG_REPLY = ("x" * 1000 + " ") * 6000  # ≈ 6 MB of stream: more than the sockets' buffers hold
BIG_CHUNKS = 6000 // WORDS_PER_PIECE
UPSTREAM_SILENCE_S = 1.0


def _short_upstream_timeout(demo_config: Path, fakes: Fakes) -> None:
    path = demo_config / "demo.yaml"
    path.write_text(path.read_text().replace(
        'base_url: "' + fakes.openai.url + '/v1"}',
        'base_url: "' + fakes.openai.url + f'/v1", timeout_s: {UPSTREAM_SILENCE_S}}}'))


def _stalled_stream(gateway: BackgroundServer) -> socket.socket:
    """A streaming request from a client with a tiny receive buffer, which reads only the head."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotuning
    sock.connect((gateway.host, gateway.port))
    body = json.dumps({"model": "gpt-4.1-mini", "messages": HI, "stream": True}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
                 b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def _read_to_end(sock: socket.socket) -> bytes:
    received = bytearray()
    sock.settimeout(30)
    try:
        while chunk := sock.recv(1 << 20):
            received += chunk
    except ConnectionResetError:
        pass
    sock.close()
    return bytes(received)


def _primary_breaker(gateway: BackgroundServer) -> dict:
    resp = httpx.get(f"{gateway.url}/admin/breakers", headers={"authorization": f"Bearer {ADMIN}"})
    return next(b for b in resp.json()["data"] if b["deployment"] == PRIMARY)


def test_a_client_that_stops_reading_is_not_the_upstreams_failure(start_gateway: GatewayFactory, demo_config: Path,
                                                                  fakes: Fakes) -> None:
    # The client reads nothing for three times the upstream's silence timeout: the gateway stops
    # reading the upstream meanwhile (back-pressure), which is not the upstream being silent.
    _short_upstream_timeout(demo_config, fakes)
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0)
    fakes.openai.state.set(reply=BIG_REPLY)
    sock = _stalled_stream(gateway)
    time.sleep(3 * UPSTREAM_SILENCE_S)  # the client's stall is the scenario: there is no event to await
    received = _read_to_end(sock)
    assert b"timed out" not in received[-2000:]
    assert received.rstrip(b"\r\n0").endswith(b"data: [DONE]"), received[-300:]
    breaker = _primary_breaker(gateway)
    assert breaker["state"] == "closed" and breaker["consecutive_failures"] == 0


def test_a_stalled_client_ends_only_its_own_stream_at_the_write_deadline(
        start_gateway: GatewayFactory, demo_config: Path, fakes: Fakes) -> None:
    _short_upstream_timeout(demo_config, fakes)
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0, client_write_timeout_s=2.0)
    # The fake holds its stream near the end, watching for its client (the gateway) going away.
    fakes.openai.state.set(reply=BIG_REPLY, hold_after_chunks=BIG_CHUNKS - 100)
    sock = _stalled_stream(gateway)
    # The gateway gives the stalled client up: the upstream call is closed...
    assert fakes.openai.state.wait_for(lambda: fakes.openai.state.counters.get("disconnects", 0) == 1, timeout=15)
    received = _read_to_end(sock)
    assert b"data: [DONE]" not in received
    # ...and nothing counts against the upstream: the next client is served by it.
    breaker = _primary_breaker(gateway)
    assert breaker["state"] == "closed" and breaker["consecutive_failures"] == 0
    fakes.openai.state.set(reply="fine", hold_after_chunks=None)
    with _client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=HI)
    assert raw.http_response.status_code == 200 and raw.parse().choices[0].message.content == "fine"


# --- a client that hangs up before the first byte ---------------------------------------------

def _send_chat(gateway: BackgroundServer, model: str, stream: bool) -> socket.socket:
    sock = socket.create_connection((gateway.host, gateway.port))
    body = json.dumps({"model": model, "messages": HI, "stream": stream}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
                 b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def _decisions(gateway: BackgroundServer, count: int) -> list[dict]:
    """The newest ``count`` decision records, once there are that many (they are recorded as the
    request ends, a moment after the fake saw its client go)."""
    deadline = time.monotonic() + 5
    while True:
        listed = httpx.get(f"{gateway.url}/admin/decisions?limit={count}",
                           headers={"authorization": f"Bearer {ADMIN}"}).json()["data"]
        if len(listed) >= count or time.monotonic() > deadline:
            return listed
        time.sleep(0.02)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_gone_before_the_first_byte_cancels_its_attempt(start_gateway: GatewayFactory, demo_config: Path,
                                                                fakes: Fakes, stream: bool) -> None:
    # The upstream hangs; its timeout (3 s) is far longer than the clients stay (until the fake
    # has their requests). Their attempts must end when they go: not time out, be retried or
    # fall back, or count against the upstream.
    path = demo_config / "demo.yaml"
    path.write_text(path.read_text().replace(
        'base_url: "' + fakes.openai.url + '/v1"}', 'base_url: "' + fakes.openai.url + '/v1", timeout_s: 3}'))
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=1, ttft_s=3.0)
    state = fakes.openai.state
    state.set(hang=True)
    socks = [_send_chat(gateway, "default", stream) for _ in range(4)]
    assert state.wait_for(lambda: state.counters.get("hangs", 0) == 4)
    for sock in socks:
        sock.close()
    # The upstream calls are closed at once (well before their 3 s timeout)...
    assert state.wait_for(lambda: state.counters.get("disconnects", 0) == 4, timeout=2)
    records = _decisions(gateway, 4)
    assert len(records) == 4
    for record in records:
        assert record["status"] == 499
        assert [(a["deployment"], a["outcome"]) for a in record["attempts"]] == [(PRIMARY, "cancelled")]
    # ...never retried nor sent to the fallback, and not counted against the upstream.
    assert state.counters["requests"] == 4 and fakes.anthropic.state.counters.get("requests", 0) == 0
    breaker = _primary_breaker(gateway)
    assert breaker["state"] == "closed" and breaker["consecutive_failures"] == 0


# --- refusals say when to come back, and that it is a rate limit -------------------------------

def test_every_candidate_rate_limiting_is_a_429_with_the_earliest_wait(start_gateway: GatewayFactory,
                                                                      demo_config: Path, fakes: Fakes) -> None:
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0)
    for fake, wait in ((fakes.openai, 30), (fakes.anthropic, 20), (fakes.gemini, 40)):
        fake.state.set(status=429, retry_after=wait)
    with _client(gateway) as client:
        # The first request tries all three; the next finds all three breakers open (held by the 429s).
        for attempts in ("3", None):
            with pytest.raises(openai.RateLimitError) as caught:
                client.chat.completions.create(model="default", messages=HI)
            resp = caught.value.response
            assert resp.status_code == 429
            assert 19 <= int(resp.headers["retry-after"]) <= 20  # the earliest: anthropic's 20 s
            if attempts is not None:
                assert resp.headers["x-grove-attempts"] == attempts
    assert sum(f.state.counters["requests"] for f in (fakes.openai, fakes.anthropic, fakes.gemini)) == 3


@pytest.mark.parametrize("shared", [False, True])
def test_a_breaker_open_refusal_says_when_it_half_opens(start_gateway: GatewayFactory, demo_config: Path,
                                                        fakes: Fakes, request: pytest.FixtureRequest,
                                                        shared: bool) -> None:
    # Shared: the breaker's open period is in Redis, timed by the Redis server's clock.
    redis_url = None
    if shared:
        request.getfixturevalue("redis_client")  # a flushed test database
        redis_url = REDIS_URL
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0, breaker_failures=3, breaker_cooldown_s=10,
                            redis_url=redis_url)
    fakes.openai.state.set(status=500)
    with _client(gateway) as client:
        for _ in range(3):  # three failures in a row open the breaker for its 10 s cooldown
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="gpt-4.1-mini", messages=HI)
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="gpt-4.1-mini", messages=HI)
    resp = caught.value.response
    assert resp.status_code == 503 and caught.value.body["code"] in ("no_available_model", "all_attempts_failed")  # type: ignore[index]
    assert 9 <= int(resp.headers["retry-after"]) <= 10
    assert fakes.openai.state.counters["requests"] == 3
