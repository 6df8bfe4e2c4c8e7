"""The relay's memory stays bounded in bytes while a fast upstream meets a slow client.

The relay runs as its command (``python -m rtproto.relay``), so that its
resident memory (``VmRSS``/``VmHWM`` in /proc) is its own. The upstream is
as fast as a sender can be: rtproto's own server-side ``WebSocketIO``, which
hands every frame to its transport at once without waiting for the socket.
The client, on a socket with a small receive buffer, reads it 1 KiB per
``recv`` (websockets' sans-I/O ``ClientProtocol`` judging the bytes): far
slower than the relay can read the upstream, so that a relay without
backpressure would hold most of the 128 MiB that pass through. The relay may
hold a few frames' worth (without its backpressure, its peak grew by about 54 MiB here).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from rtproto._wsio import WebSocketIO
from test_relay import LIMIT, REPO, stop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

FRAMES, FRAME_BYTES = 128, 1024 * 1024
RSS_BOUND = 16 * 1024 * 1024  # what the peak may exceed the resting size by: a few frames (about 3 MiB measured)


def memory(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class FloodingUpstream:
    """A websocket server that, once the client says go, writes every frame to its transport at once."""

    def __init__(self):
        self.frame = b'{"type":"response.output_audio.delta","delta":"%s"}' % (b"A" * FRAME_BYTES)

    async def start(self) -> int:
        self.server = await asyncio.get_running_loop().create_server(self._accept, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def _accept(self) -> WebSocketIO:
        io = WebSocketIO(ServerProtocol(max_size=None), ping_interval=None, ping_timeout=None)
        asyncio.get_running_loop().create_task(self._serve(io))
        return io

    async def _serve(self, io: WebSocketIO) -> None:
        io.respond(io.protocol.accept(await io.handshake()))
        await io.wait_frame()  # "go"
        for _ in range(FRAMES):
            io.send_message(self.frame, True)
        await io.wait_closed()


class SlowClient:
    """A websocket client on a blocking-free raw socket that receives 1 KiB per ``recv``."""

    def __init__(self, url: str):
        self.protocol = ClientProtocol(parse_uri(url), max_size=2 * FRAME_BYTES)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.uri = parse_uri(url)

    async def open(self) -> None:
        await self.loop.sock_connect(self.sock, (self.uri.host, self.uri.port))
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        while not await self._events():
            pass

    async def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        await self._flush()

    async def recv(self) -> Frame:
        while True:
            for event in await self._events():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    return event

    async def _events(self) -> list:
        data = await self.loop.sock_recv(self.sock, 1024)
        if not data:
            raise ConnectionError("the relay closed the connection")
        self.protocol.receive_data(data)
        return self.protocol.events_received()

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            await self.loop.sock_sendall(self.sock, data)


async def test_relay_memory_stays_bounded_with_a_fast_upstream_and_a_slow_client():
    upstream = FloodingUpstream()
    async with asyncio.timeout(4 * LIMIT):
        port = await upstream.start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtproto.relay", "--port", "0", "--upstream", f"ws://127.0.0.1:{port}/v1/realtime",
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            client = SlowClient((await proc.stdout.readline()).decode().split()[-1])
            await client.open()
            resting = memory(proc.pid, "VmRSS")
            await client.send_text("go")
            peaks, total = [], 0
            for _ in range(FRAMES):
                total += len((await client.recv()).data)
                peaks.append(memory(proc.pid, "VmRSS"))
            peak = memory(proc.pid, "VmHWM")
            client.sock.close()
        finally:
            code, out, err = await stop(proc)
            upstream.server.close()

    assert total == FRAMES * len(upstream.frame)  # every byte arrived
    assert max(peaks) - resting <= RSS_BOUND
    assert peak - resting <= RSS_BOUND, f"peak {peak >> 20} MiB, resting {resting >> 20} MiB"
    assert code == 0 and "Traceback" not in err
