"""Browser clients: the key travels as a subprotocol, and the relay answers ``realtime``.

Browsers cannot set headers, so a browser app offers ``Sec-WebSocket-Protocol:
realtime, openai-insecure-api-key.<KEY>`` (and, for the beta API,
``openai-beta.realtime-v1``). Here a real websockets client offers exactly
that to a relay on 127.0.0.1, in front of rtproto's own server; the relay must
check the key as the client's token, never forward, record or log it, and pick
``realtime``. (A wrong or missing browser key is refused with the other wrong
tokens, in test_relay.py.)
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from websockets.asyncio.client import connect

from rtproto.relay import Relay
from rtproto.transcript import read_transcript
from test_relay import LIMIT, RELAY_KEY, TOKEN, WRONG, Upstream, assert_no_secrets, opening, recording


def browser(key: str, *, beta: bool = False) -> list[str]:
    return ["realtime", f"openai-insecure-api-key.{key}"] + (["openai-beta.realtime-v1"] if beta else [])


class Headers(Upstream):
    """The upstream, also keeping every handshake's headers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = []

    async def _opened(self, ws, session):
        await super()._opened(ws, session)
        self.headers.append(ws.request.headers)


@pytest.fixture
def wire_log(caplog):
    caplog.set_level(logging.DEBUG, logger="rtproto.server")
    return caplog


def assert_not_logged(caplog, *secrets: str) -> None:
    text = "\n".join(caplog.handler.format(r) for r in caplog.records)
    assert "Sec-WebSocket-Protocol" in text  # the handshake was logged, header by header
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("beta", [False, True])
async def test_browser_key_subprotocol_is_the_token_and_goes_nowhere(tmp_path, wire_log, beta):
    async with asyncio.timeout(LIMIT), Headers(opening().build(), speed="max", api_key=RELAY_KEY) as upstream, \
            Relay(upstream=upstream.url, api_key=RELAY_KEY, token=TOKEN, record_dir=str(tmp_path)) as relay:
        async with connect(relay.url + "?model=gpt-realtime", subprotocols=browser(TOKEN, beta=beta)) as ws:
            assert ws.subprotocol == "realtime"
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        await relay.sessions[0].done.wait()

    (headers,) = upstream.headers
    assert headers.get_all("Authorization") == [f"Bearer {RELAY_KEY}"]
    assert headers.get_all("Sec-WebSocket-Protocol") == []  # no subprotocol goes upstream
    assert headers.get_all("OpenAI-Beta") == (["realtime=v1"] if beta else [])
    path = recording(tmp_path)
    assert read_transcript(path).header["api"] == ("beta" if beta else "ga")
    assert read_transcript(path).client_events() == [{"type": "session.update", "session": {"type": "realtime"}}]
    assert_no_secrets(path)
    assert_not_logged(wire_log, TOKEN, RELAY_KEY)


async def test_a_loopback_relay_without_token_ignores_the_browser_key(tmp_path, wire_log):
    async with asyncio.timeout(LIMIT), Headers(opening().build(), speed="max") as upstream, \
            Relay(upstream=upstream.url, record_dir=str(tmp_path)) as relay:
        async with connect(relay.url, subprotocols=browser(WRONG)) as ws:
            assert ws.subprotocol == "realtime"
            assert json.loads(await ws.recv())["type"] == "session.created"
        await relay.sessions[0].done.wait()

    assert upstream.headers[0].get_all("Sec-WebSocket-Protocol") == []
    assert WRONG not in recording(tmp_path).read_text()
    assert_not_logged(wire_log, WRONG)


async def test_a_client_offering_other_subprotocols_only_gets_none():
    async with asyncio.timeout(LIMIT), Upstream(opening().build(), speed="max") as upstream, \
            Relay(upstream=upstream.url) as relay:
        async with connect(relay.url, subprotocols=["chat"]) as ws:
            assert ws.subprotocol is None
            assert json.loads(await ws.recv())["type"] == "session.created"
