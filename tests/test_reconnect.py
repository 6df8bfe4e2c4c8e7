"""A conversation that outlives its connection, through the real CLI.

A real websockets server on 127.0.0.1 answers the first typed line, then loses
the connection (a 1011 close, a TCP abort, session expiry then 1001, or a bare
1001 "going away"). The CLI
reconnects, resumes (the configuration and the earlier turns re-seeded), and the
line typed after the loss is answered on the new connection. The recording reads
as one conversation.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from cli_harness import recorded, run_cli, running, until

pytestmark = pytest.mark.timeout(90)

FIRST, SECOND = "What is the capital of Norway?", "And its population?"
ANSWERS = ["Oslo is the capital of Norway.", "About seven hundred thousand."]


class TwoConnectionServer:
    """Serves connection 1 until the first answer, then loses it as ``loss`` says; serves connection 2."""

    def __init__(self, loss: str):
        self.loss = loss
        self.received: list[list[dict]] = []
        self._ids = itertools.count(1)

    async def handler(self, ws: ServerConnection) -> None:
        number = len(self.received)
        self.received.append([])
        await self._send(ws, "session.created", session={"type": "realtime", "id": f"sess_{number}",
                                                         "object": "realtime.session"})
        if number == 0:
            await self._answer(ws, number, ANSWERS[0])
            await self._lose(ws)
        else:
            await self._expect(ws, number, "response.create")  # after the re-seeded items and the new line
            await self._answer_created(ws, ANSWERS[1])
            await ws.close(1000)

    async def _answer(self, ws: ServerConnection, number: int, text: str) -> None:
        await self._expect(ws, number, "response.create")
        await self._answer_created(ws, text)

    async def _answer_created(self, ws: ServerConnection, text: str) -> None:
        rid, iid = f"resp_{next(self._ids)}", f"item_{next(self._ids)}"
        item = {"id": iid, "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text}]}
        ids = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        await self._send(ws, "response.created", response={"id": rid, "status": "in_progress", "output": []})
        await self._send(ws, "conversation.item.added", item={**item, "status": "in_progress", "content": []})
        await self._send(ws, "response.output_text.delta", **ids, delta=text)
        await self._send(ws, "response.output_text.done", **ids, text=text)
        await self._send(ws, "conversation.item.done", item=item)
        await self._send(ws, "response.done", response={"id": rid, "status": "completed", "output": [item]})

    async def _expect(self, ws: ServerConnection, number: int, kind: str) -> None:
        while True:
            event = json.loads(await ws.recv())
            self.received[number].append(event)
            if event["type"] == "conversation.item.create":  # as the real server: the item, with its id
                item = {**event["item"], "id": f"item_{next(self._ids)}", "status": "completed"}
                await self._send(ws, "conversation.item.added", item=item)
                await self._send(ws, "conversation.item.done", item=item)
            if event["type"] == kind:
                return

    async def _lose(self, ws: ServerConnection) -> None:
        if self.loss == "abort":
            ws.transport.abort()  # no close frame: the client sees 1006
        elif self.loss == "going-away":  # a server restarting: a normal close code, not the end of the talk
            await ws.close(1001, "server restarting")
        elif self.loss == "expiry":
            await self._send(ws, "error", error={"type": "invalid_request_error", "code": "session_expired",
                                                 "message": "Your session hit the maximum duration of 60 minutes.",
                                                 "event_id": None})
            await ws.close(1001, "Your session hit the maximum duration of 60 minutes.")
        else:
            await ws.close(1011, "internal error")

    async def _send(self, ws: ServerConnection, kind: str, **fields: object) -> None:
        await ws.send(json.dumps({"type": kind, "event_id": f"event_{next(self._ids)}", **fields}))


@pytest.mark.parametrize("loss", ["1011", "abort", "expiry", "going-away"])
async def test_a_lost_connection_is_resumed_and_the_next_line_answered(tmp_path: Path, loss: str) -> None:
    server = TwoConnectionServer(loss)
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        async with running("--url", f"ws://127.0.0.1:{port}/v1/realtime", "--text", "--output", "a.wav",
                           "--record", "rec.jsonl", cwd=tmp_path) as cli:
            cli.write(FIRST)
            await cli.expect(f"assistant ▸ {ANSWERS[0]}\n")
            await cli.expect("[resumed with 2 items]")
            cli.write(SECOND)
            await cli.expect(f"assistant ▸ {ANSWERS[1]}\n")
            assert await cli.wait() == 0, cli.screen()
    assert "reconnecting 1/5" in cli.stdout and "Traceback" not in cli.stderr

    first, second = server.received
    assert [e["type"] for e in first] == ["session.update", "conversation.item.create", "response.create"]
    assert [e["type"] for e in second] == ["session.update", "conversation.item.create", "conversation.item.create",
                                           "conversation.item.create", "response.create"]
    assert second[0]["session"] == first[0]["session"]  # the same configuration
    reseeded = [e["item"] for e in second[1:4]]
    assert [(i["role"], i["content"][0]["text"]) for i in reseeded] == [
        ("user", FIRST), ("assistant", ANSWERS[0]), ("user", SECOND)]

    _, _, local = recorded(tmp_path / "rec.jsonl")
    kinds = [e["type"] for e in local]
    assert kinds[kinds.index("connection.lost") + 1] == "connection.resumed"
    assert kinds[-1] == "connection.closed"
    code, out, err = await run_cli("replay", "rec.jsonl", cwd=tmp_path)
    assert code == 0 and ANSWERS[1] in out, out + err  # one conversation, offline
    code, out, err = await run_cli("check", "rec.jsonl", cwd=tmp_path)
    assert code in (0, 1) and "Traceback" not in err, out + err


async def test_no_reconnect_ends_with_the_loss(tmp_path: Path) -> None:
    server = TwoConnectionServer("1011")
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        code, out, err = await run_cli("--url", f"ws://127.0.0.1:{port}/v1/realtime", "--text", "--output", "a.wav",
                                       "--no-reconnect", cwd=tmp_path, stdin=f"{FIRST}\n")
    assert code == 1 and "code 1011" in err and len(server.received) == 1, out + err


async def test_after_the_last_failed_attempt_the_cli_exits_1_with_the_cause(tmp_path: Path) -> None:
    server = TwoConnectionServer("1011")
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        async with running("--url", url, "--text", "--output", "a.wav", cwd=tmp_path) as cli:
            cli.write(FIRST)
            await cli.expect(f"assistant ▸ {ANSWERS[0]}\n")
            ws_server.close()  # no server to come back to
            code = await cli.wait()
    assert code == 1, cli.screen()
    assert "gave up after 5 attempts to reconnect" in cli.stderr and "Traceback" not in cli.stderr
    assert "reconnecting 5/5" in cli.stdout


class ExpiringServer(TwoConnectionServer):
    """Connection 1's session expires soon (``expires_at`` inside the client's margin); connection 2's does not."""

    def __init__(self) -> None:
        super().__init__("none")
        self.first_close: int | None = None

    async def handler(self, ws: ServerConnection) -> None:
        number = len(self.received)
        self.received.append([])
        expires = {"expires_at": int(time.time()) + 60} if number == 0 else {}
        await self._send(ws, "session.created", session={"type": "realtime", "id": f"sess_{number}",
                                                         "object": "realtime.session", **expires})
        if number == 0:
            with contextlib.suppress(ConnectionClosed):
                await self._expect(ws, number, "never sent")
            self.first_close = ws.close_code
        else:
            await self._answer(ws, number, ANSWERS[0])
            await ws.close(1000)


async def test_a_session_about_to_expire_is_left_between_turns_for_a_new_one(tmp_path: Path) -> None:
    server = ExpiringServer()
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        async with running("--url", f"ws://127.0.0.1:{port}/v1/realtime", "--text", "--output", "a.wav",
                           "--record", "rec.jsonl", cwd=tmp_path) as cli:
            await cli.expect("moved to a new session before the old one expired")
            cli.write(FIRST)
            await cli.expect(f"assistant ▸ {ANSWERS[0]}\n")
            assert await cli.wait() == 0, cli.screen()
    assert server.first_close == 1000  # left with a normal close, not dropped
    first, second = server.received
    assert [e["type"] for e in first] == ["session.update"]
    assert [e["type"] for e in second][:1] == ["session.update"] and second[0]["session"] == first[0]["session"]
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert {"type": "connection.resumed", "attempt": 0, "budget": 20000, "planned": True} in local


async def test_a_silent_connection_is_detected_by_keepalive_and_resumed(tmp_path: Path) -> None:
    from cli_harness import Conversation, fixture_deltas
    from rtproto.testing import Fault, after_server, serve_with_faults

    deltas = fixture_deltas("mcp_call.jsonl")[:1]
    script = Conversation().session().expect("response.create").answer("resp_1", "item_1", deltas, ANSWERS[0])
    faults = [[Fault.silence(when=after_server("response.done"))], []]  # the first connection goes quiet
    async with serve_with_faults(script.script, faults_per_connection=faults, speed="max") as server:
        async with running("--url", server.url, "--text", "--output", "a.wav", "--keepalive", "0.3",
                           cwd=tmp_path) as cli:
            cli.write(FIRST)
            await cli.expect(f"assistant ▸ {ANSWERS[0]}\n")
            await cli.expect("the server stopped answering pings")
            await cli.expect("[resumed with 1 items]")
            cli.write(SECOND)
            await until(lambda: cli.stdout.count(f"assistant ▸ {ANSWERS[0]}\n") == 2, "the answer on the new connection",
                        cli)
            cli.close_stdin()
            assert await cli.wait() == 0, cli.screen()
    assert len(server.connections) == 2 and [f.kind for f in server.connections[0].fired] == ["silence"]


async def test_microphone_audio_captured_while_reconnecting_is_sent_once_resumed(tmp_path: Path) -> None:
    # The first connection is closed 200 ms into the user's speech; what the microphone captures
    # until the new connection is up is held and sent there, so the server hears every sample once.
    import numpy as np

    from cli_harness import RATE, Conversation, appended_pcm, speech_like
    from rtproto import codec
    from rtproto.testing import Fault, after_client, serve_with_faults

    speech = speech_like(1.5)
    codec.write_wav(tmp_path / "speech.wav", speech, RATE)
    script = Conversation().session().close(1000, after_ms=4000)  # the second connection: open long enough
    faults = [[Fault.close(1011, "restarting", when=after_client("input_audio_buffer.append", 10))], []]
    async with serve_with_faults(script.script, faults_per_connection=faults) as server:
        code, out, err = await run_cli("--url", server.url, "--input", "speech.wav", "--output", "a.wav",
                                       cwd=tmp_path)
        assert code == 0, out + err
    assert "[resumed with 0 items]" in out
    first, second = (appended_pcm(connection.session.received) for connection in server.connections)
    heard = np.concatenate([first, second])
    assert len(first) >= 10 * RATE // 50 and len(second) > len(speech) - len(first)
    assert np.array_equal(heard[:len(speech)], speech)  # no sample lost in the gap, none twice
