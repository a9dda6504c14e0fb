"""Stored responses live in Redis: a response one gateway process stored is read, listed and
continued (``previous_response_id``) by another process sharing the Redis."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
import redis

from gateway.fakes.run import Fakes
from tests.conftest import REDIS_URL, GatewayFactory, GatewayProcess, RedisServer, free_port
from tests.responses_support import ANTHROPIC, NATIVE, client, write_config


def test_a_replica_continues_a_response_another_replica_stored(tmp_path: Path, fakes: Fakes,
                                                               redis_client: redis.Redis) -> None:
    config = write_config(tmp_path, fakes)
    env = {"GROVE_REDIS_URL": REDIS_URL, "GROVE_RESPONSES_TTL_S": "60"}
    first = GatewayProcess(config, free_port(), env)
    second = GatewayProcess(config, free_port(), env)
    try:
        created = client(first.url).responses.create(model=NATIVE, input="My name is Ada.")
        key = f"grove:responses:{created.id}".encode()
        assert 0 < redis_client.pttl(key) <= 60_000  # stored with the configured TTL
        other = client(second.url)
        assert other.responses.retrieve(created.id).output_text == created.output_text
        assert [i.content[0].text for i in other.responses.input_items.list(created.id).data] == [  # type: ignore[union-attr]
            "My name is Ada."]
        fakes.anthropic.state.reset()
        follow = other.responses.create(model=ANTHROPIC, input="What is my name?", previous_response_id=created.id)
        assert "You said: What is my name?" in follow.output_text
        sent, = fakes.anthropic.state.requests
        assert [m["role"] for m in sent.body["messages"]] == ["user", "assistant", "user"]
        assert sent.body["messages"][1]["content"][0]["text"] == created.output_text
        # the follow-up is stored too, by the second replica, and the first one reads it
        assert client(first.url).responses.retrieve(follow.id).output_text == follow.output_text
        other.responses.delete(created.id)
        with pytest.raises(openai.NotFoundError):
            client(first.url).responses.retrieve(created.id)
    finally:
        logs = first.stop() + second.stop()
    assert "Traceback" not in logs


def test_a_lost_redis_is_a_503_for_stored_responses_and_answers_still_flow(
        start_gateway: GatewayFactory, tmp_path: Path, fakes: Fakes, private_redis: RedisServer) -> None:
    gateway = start_gateway(write_config(tmp_path, fakes), redis_url=private_redis.url)
    sdk = client(gateway)
    created = sdk.responses.create(model=NATIVE, input="hi")
    private_redis.stop()
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.responses.create(model=NATIVE, input="again", previous_response_id=created.id)
    assert caught.value.status_code == 503 and caught.value.code == "service_unavailable"
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.responses.retrieve(created.id)
    assert caught.value.status_code == 503
    # a response that needs no stored one is still served; it is just not kept
    assert "You said: still" in sdk.responses.create(model=NATIVE, input="still").output_text
