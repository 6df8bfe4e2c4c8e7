"""Measure how many real-time voice sessions one process can carry, and rtproto's cost over bare websockets.

    python scripts/bench_sessions.py --sessions 400 --seconds 15 --repeat 3
    python scripts/bench_sessions.py --sessions 200 --seconds 20 --mode rtproto
    python scripts/bench_sessions.py --sessions 300 --seconds 20 --pacing per-session
    python scripts/bench_sessions.py --sessions 400 --loop uvloop   # if uvloop is installed

A load server runs in a CHILD process on 127.0.0.1 (so its CPU is not counted
as the client's). On a machine with two or more CPUs the client is pinned to
the first and the server to the second, so that they never compete for one
core and "per core" means one core. It is a lean frame pump, so that it does not saturate its
own core before the client does: a plain ``asyncio.Protocol`` answers the
opening handshake, writes a short response prologue, then one pre-framed
``response.output_audio.delta`` (24 kHz PCM16, 960 bytes of audio as 1280
base64 chars, framed once) every 20 ms per connection, from one 1 ms ticker
that serves the connections in 20 slots spread over the 20 ms period. It
reads the client's frame headers only (to count frames, answer pings and the
closing handshake) and discards the payloads.

The parent runs N concurrent client sessions, each sending one 20 ms
``input_audio_buffer.append`` on an absolute schedule and receiving the
deltas. ``--pacing`` picks who keeps the schedule:

* ``shared`` (default): ONE ticker task for all sessions, as a phone-line
  relay with one media clock has. It wakes every 1 ms; the sessions are
  spread over 20 slots of the 20 ms period, and at each wake-up it builds and
  sends the appends of that slot's sessions, one after the other;
* ``per-session``: every session sleeps until its own t0 + k * 20 ms (the
  session starts spread over one 20 ms period), one timer wake-up per append.

The client flavours carry the same traffic, with the same pacing, one after
the other, each against a fresh server:

* ``rtproto``: ``rtproto.transport.connect``; ``deliver_events``
  (decode_server, each event handed over in the socket callback, no task
  switch per frame) with ``Session.receive`` for every event and
  ``b64_to_pcm16`` on every delta; ``pcm16_to_b64`` +
  ``events.encode(InputAudioBufferAppend)`` + ``conn.send`` for every append;
* ``bare``: ``websockets.asyncio.client.connect``, a pre-built JSON append
  with the same base64 size, ``async for`` over the connection (websockets'
  only receive API: a task wake-up per frame) + ``orjson.loads``;
* ``transport`` (``--mode all`` or ``transport``): the bare traffic through
  rtproto's transport alone (``conn.send`` of the pre-built append,
  ``conn.deliver`` + ``orjson.loads``), to tell the transport's cost from that
  of the protocol work (events, session core, codec).

After a warm-up, a window of ``--seconds`` is measured: client CPU
(``time.process_time``), server CPU (``/proc/<child>/stat``), send lateness
(actual send time minus scheduled time; with shared pacing every append of a
slot is scheduled at the slot's tick, so the last one sent waits for all
before it),
frames per second, and RSS sampled every second from ``/proc/self/statm``.
Sessions per core is N divided by the client's CPU fraction. ``--repeat R``
alternates the flavours R times; the verdict takes medians. Everything is
bounded: the clients stop at the end of the window, the server child exits
when told or after a hard deadline, and the parent kills it if it lingers.

Read the "other processes CPU" row before trusting a column: on a busy machine
the client is starved, sends turn late, and CPU per session even drops (the
event loop handles more events per wake-up), so compare runs on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import multiprocessing
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.utils import accept_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtproto import events  # noqa: E402
from rtproto.codec import b64_to_pcm16, pcm16_to_b64  # noqa: E402

FRAME_S = 0.020
SLOTS = 20  # a shared ticker spreads its sessions over this many slots of the 20 ms period
SLOT_S = FRAME_S / SLOTS
SAMPLES = 480  # 20 ms at 24 kHz
WARMUP_S = 2.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_IDS = {"event_id": "event_1", "response_id": "resp_1", "item_id": "item_1", "output_index": 0}


# ---------------------------------------------------------------------------
# Wire frames (built once)


def _noise_pcm(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(SAMPLES) * 3000).astype(np.int16)


def prologue() -> list[bytes]:
    """session.created and a response with one audio part, as a real server starts one."""
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_1", "model": "gpt-realtime",
               "output_modalities": ["audio"],
               "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                         "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}}}
    item = {"id": "item_1", "object": "realtime.item", "type": "message", "role": "assistant",
            "status": "in_progress", "content": []}
    frames = [
        {"type": "session.created", "event_id": "event_0", "session": session},
        {"type": "response.created", "event_id": "event_1",
         "response": {"id": "resp_1", "object": "realtime.response", "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "event_id": "event_2", "response_id": "resp_1",
         "output_index": 0, "item": item},
        {"type": "response.content_part.added", **_IDS, "content_index": 0,
         "part": {"type": "audio", "transcript": ""}},
    ]
    return [orjson.dumps(f) for f in frames]


def delta_frame() -> bytes:
    """One 20 ms ``response.output_audio.delta`` (1280 base64 chars)."""
    return orjson.dumps({"type": "response.output_audio.delta", **_IDS, "content_index": 0,
                         "delta": pcm16_to_b64(_noise_pcm(1))})


def bare_append_frame() -> str:
    """The bare client's pre-built ``input_audio_buffer.append`` (same base64 size as rtproto's)."""
    return orjson.dumps({"type": "input_audio_buffer.append", "audio": pcm16_to_b64(_noise_pcm(2))}).decode()


# ---------------------------------------------------------------------------
# The load server (child process)

_CLOSE_1000 = b"\x88\x02\x03\xe8"
_HANDSHAKE_END = b"\r\n\r\n"


def server_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked server-to-client frame (FIN set)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


class Pump:
    """Connections in SLOTS groups; one ticker writes the pre-framed delta to one group per slot."""

    def __init__(self, head: bytes, delta: bytes):
        self.head, self.delta = head, delta
        self.slots: list[set] = [set() for _ in range(SLOTS)]
        self.counts = {"sent": 0, "received": 0, "connections": 0}
        self.lateness: list[float] = []

    def add(self, conn: PumpConnection) -> None:
        self.slots[self.counts["connections"] % SLOTS].add(conn)
        self.counts["connections"] += 1

    def remove(self, conn: PumpConnection) -> None:
        for slot in self.slots:
            slot.discard(conn)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        t0, j = loop.time(), 0
        while True:
            j += 1
            due = t0 + j * SLOT_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(self.lateness) < 2_000_000:
                self.lateness.append(loop.time() - due)
            slot = tuple(self.slots[j % SLOTS])
            for conn in slot:
                conn.transport.write(self.delta)
            self.counts["sent"] += len(slot)


class PumpConnection(asyncio.Protocol):
    """Server side of one connection: handshake, then count the client's frames and discard them."""

    def __init__(self, pump: Pump):
        self.pump = pump
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.pump.remove(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open and not self._handshake():
            return
        self._frames()

    def _handshake(self) -> bool:
        end = self.buffer.find(_HANDSHAKE_END)
        if end < 0:
            return False
        key = next(line.split(b":", 1)[1].strip() for line in self.buffer[:end].split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n"
                             + self.pump.head)
        del self.buffer[: end + len(_HANDSHAKE_END)]
        self.open = True
        self.pump.add(self)
        return True

    def _frames(self) -> None:
        buf, pos, size = self.buffer, 0, len(self.buffer)
        while size - pos >= 2:
            opcode, length, start = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, pos + 2
            if length >= 126:
                extra = 2 if length == 126 else 8
                if size - start < extra:
                    break
                length, start = int.from_bytes(buf[start:start + extra], "big"), start + extra
            start += 4  # client frames are masked
            if size - start < length:
                break
            if opcode == 0x8:
                self.transport.write(_CLOSE_1000)
                self.transport.close()
                self.pump.remove(self)
                return
            if opcode == 0x9:  # ping: answer with the unmasked payload
                mask, payload = buf[start - 4:start], buf[start:start + length]
                self.transport.write(server_frame(bytes(b ^ mask[i % 4] for i, b in enumerate(payload)), 0xA))
            elif opcode in (0x1, 0x2):
                self.pump.counts["received"] += 1
            pos = start + length
        del buf[:pos]


def serve_child(pipe, hard_deadline_s: float, loop_name: str, cpu: int | None) -> None:
    """Child process entry: serve on 127.0.0.1:0, send the port, stop on any message or the deadline."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        runner.run(_serve(pipe, hard_deadline_s))


def cpu_plan() -> tuple[int | None, int | None]:
    """(client CPU, server CPU): the first two this process may use, or (None, None) with fewer than two."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def loop_factory(name: str):
    """``None`` (asyncio's own loop) or ``uvloop.new_event_loop``."""
    if name == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


async def _serve(pipe, hard_deadline_s: float) -> None:
    loop = asyncio.get_running_loop()
    pump = Pump(b"".join(server_frame(f) for f in prologue()), server_frame(delta_frame()))
    stop = asyncio.Event()

    def on_pipe() -> None:
        loop.remove_reader(pipe.fileno())
        stop.set()

    loop.add_reader(pipe.fileno(), on_pipe)
    server = await loop.create_server(lambda: PumpConnection(pump), "127.0.0.1", 0, backlog=4096)
    ticker = asyncio.create_task(pump.run())
    pipe.send(server.sockets[0].getsockname()[1])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), hard_deadline_s)
    if ticker.done():  # it only ends by failing
        pump.counts["error"] = repr(ticker.exception())
    ticker.cancel()
    server.close()
    pipe.send(_server_report(pump.counts, pump.lateness))


def _server_report(counts: dict, lateness: list[float]) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    late = np.array(lateness) * 1000 if lateness else np.zeros(1)
    return {**counts, "cpu_s": usage.ru_utime + usage.ru_stime,
            "late_p50_ms": float(np.percentile(late, 50)), "late_p99_ms": float(np.percentile(late, 99))}


class ServerProcess:
    """The load server child: start, port, CPU seconds so far, stop (always bounded)."""

    def __init__(self, hard_deadline_s: float, loop_name: str, cpu: int | None):
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child_end = ctx.Pipe()
        self.process = ctx.Process(target=serve_child, args=(child_end, hard_deadline_s, loop_name, cpu),
                                   daemon=True)
        self.process.start()
        if not self._pipe.poll(30):
            self.process.kill()
            raise RuntimeError("the load server did not start within 30 s")
        self.port: int = self._pipe.recv()

    def cpu_seconds(self) -> float:
        """utime + stime of the child, read from /proc (no psutil)."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def stop(self) -> dict:
        """Ask the child to stop; returns its report (empty if it had to be killed)."""
        report: dict = {}
        with contextlib.suppress(OSError, EOFError):  # the child may be gone already
            self._pipe.send("stop")
            if self._pipe.poll(10):
                report = self._pipe.recv()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        return report


# ---------------------------------------------------------------------------
# Client sessions (parent process)


class Run:
    """Clock marks (loop time, set once all sessions are connected) and counters of one run.

    Lateness goes into an array allocated up front, so that measuring does not
    itself make the client's memory grow.
    """

    def __init__(self, n: int, seconds: float):
        self.first_send = self.window_start = self.window_end = float("inf")
        self.late = np.full(int(n * (seconds / FRAME_S + 2)), np.nan)  # touch every page now
        self.sent = self.received = self.decoded_samples = 0

    def begin(self, first_send: float, seconds: float) -> None:
        self.first_send = first_send
        self.window_start = first_send + WARMUP_S
        self.window_end = self.window_start + seconds

    @property
    def lateness(self) -> np.ndarray:
        return self.late[: self.sent]

    def note_send(self, due: float, now: float) -> None:
        if self.window_start <= due < self.window_end and self.sent < len(self.late):
            self.late[self.sent] = now - due
            self.sent += 1

    def note_receive(self, now: float) -> None:
        if self.window_start <= now < self.window_end:
            self.received += 1


async def paced(run: Run, index: int, n: int, send) -> None:
    """Call ``await send(due)`` at first_send + index/n * 20 ms + k * 20 ms until the window ends."""
    loop = asyncio.get_running_loop()
    t0, k = run.first_send + FRAME_S * index / n, 0
    while True:
        due = t0 + k * FRAME_S
        if due >= run.window_end:
            return
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(due)
        k += 1


class Ticker:
    """One media clock for all sessions: every 1 ms, ``await send(due)`` for the sessions of that slot.

    Sessions hand their ``send`` to :meth:`pace` (the shared counterpart of
    :func:`paced`), which puts session ``index`` in slot ``index % SLOTS``,
    and wait there until the ticker has passed the window.
    """

    def __init__(self, run: Run):
        self.run = run
        self.slots: list[list] = [[] for _ in range(SLOTS)]
        self.ended = asyncio.Event()

    async def pace(self, index: int, n: int, send) -> None:
        self.slots[index % SLOTS].append(send)
        await self.ended.wait()

    async def tick(self) -> None:
        """Wake at first_send + j * SLOT_S until the window ends, sending the due appends of slot j."""
        loop = asyncio.get_running_loop()
        j = 0
        try:
            while True:
                due = self.run.first_send + j * SLOT_S
                if due >= self.run.window_end:
                    return
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                for send in self.slots[j % SLOTS]:
                    await send(due)
                j += 1
        finally:
            self.ended.set()


async def rtproto_session(url: str, run: Run, index: int, n: int, ready: asyncio.Barrier, pace) -> None:
    """One session through rtproto: transport, Session core, codec, events."""
    from rtproto.session import Send, Session
    from rtproto.transport import connect, deliver_events

    loop = asyncio.get_running_loop()
    pcm = _noise_pcm(2)
    session = Session(policy=None, function_tools=(), strict=False)
    pcm24k = events.AudioPCM(type="audio/pcm", rate=24000)
    config = events.RealtimeSession(type="realtime", audio=events.AudioConfig(
        input=events.AudioInput(format=pcm24k), output=events.AudioOutput(format=pcm24k)))
    async with connect(url) as conn:

        def on_event(_raw: bytes, event) -> None:
            now = loop.time()
            if type(event) is events.ResponseOutputAudioDelta:
                run.decoded_samples += len(b64_to_pcm16(event.delta))
                run.note_receive(now)
            for output in session.receive(event, now_ms=now * 1000):  # most events need nothing sent
                if type(output) is Send:
                    conn.send_nowait(events.encode(output.event))

        async def send(due: float) -> None:
            frame = events.encode(events.InputAudioBufferAppend(audio=pcm16_to_b64(pcm)))
            run.note_send(due, loop.time())
            await conn.send(frame)

        for output in session.start(config, now_ms=loop.time() * 1000):
            if type(output) is Send:
                await conn.send(events.encode(output.event))
        receiver = asyncio.create_task(deliver_events(conn, on_event))
        await ready.wait()
        await pace(index, n, send)
        await conn.close()
        await receiver


async def transport_session(url: str, run: Run, index: int, n: int, ready: asyncio.Barrier, pace) -> None:
    """Bare traffic through rtproto's transport only: conn.send of the pre-built append, deliver + orjson.loads."""
    from rtproto.transport import connect

    loop = asyncio.get_running_loop()
    append = bare_append_frame().encode()
    async with connect(url) as conn:

        def on_frame(message: bytes) -> None:
            event = orjson.loads(message)
            if event["type"] == "response.output_audio.delta":
                run.note_receive(loop.time())

        async def send(due: float) -> None:
            run.note_send(due, loop.time())
            await conn.send(append)

        receiver = asyncio.create_task(conn.deliver(on_frame))
        await ready.wait()
        await pace(index, n, send)
        await conn.close()
        await receiver


async def bare_session(url: str, run: Run, index: int, n: int, ready: asyncio.Barrier, pace) -> None:
    """The same traffic with bare websockets: a pre-built append, recv + orjson.loads."""
    loop = asyncio.get_running_loop()
    append = bare_append_frame()
    async with ws_connect(url, compression=None, max_size=None) as ws:

        async def receive() -> None:
            async for message in ws:
                event = orjson.loads(message)
                if event["type"] == "response.output_audio.delta":
                    run.note_receive(loop.time())

        async def send(due: float) -> None:
            run.note_send(due, loop.time())
            await ws.send(append)

        receiver = asyncio.create_task(receive())
        await ready.wait()
        await pace(index, n, send)
        await ws.close()
        await receiver


# ---------------------------------------------------------------------------
# Measuring


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


@dataclass
class Result:
    mode: str
    pacing: str
    n: int
    window_s: float
    cpu_s: float
    sys_s: float
    server_cpu_s: float
    others_cpu_s: float
    run: Run
    rss: list[float]
    rss_idle: float
    rss_connected: float
    maxrss_mb: float
    server: dict

    @property
    def cpu_per_session(self) -> float:
        """Percent of one core per session."""
        return 100 * self.cpu_s / self.window_s / self.n

    @property
    def sessions_per_core(self) -> float:
        return self.n * self.window_s / self.cpu_s


async def measure(mode: str, pacing: str, n: int, seconds: float, url: str, server: ServerProcess) -> Result:
    """Connect n sessions, run warm-up + window, return what was measured."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Barrier(n + 1)
    run = Run(n, seconds)
    session = {"rtproto": rtproto_session, "transport": transport_session, "bare": bare_session}[mode]
    ticker = Ticker(run) if pacing == "shared" else None
    pace = ticker.pace if ticker else functools.partial(paced, run)
    rss_idle = rss_mb()
    tasks = [asyncio.create_task(session(url, run, i, n, ready, pace)) for i in range(n)]
    async with asyncio.timeout(60):
        while ready.n_waiting < n:
            _raise_failures(tasks)
            await asyncio.sleep(0.05)
    run.begin(loop.time() + 0.1, seconds)
    rss_connected = rss_mb()
    await ready.wait()
    if ticker:
        tasks.append(asyncio.create_task(ticker.tick()))
    sampler = asyncio.create_task(_window(run, server))
    async with asyncio.timeout(WARMUP_S + seconds + 30):
        await asyncio.gather(*tasks)
    cpu_s, sys_s, server_cpu_s, others_cpu_s, rss = await sampler
    return Result(mode, pacing, n, seconds, cpu_s, sys_s, server_cpu_s, others_cpu_s, run, rss, rss_idle, rss_connected,
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, {})


def _raise_failures(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        if task.done() and task.exception() is not None:
            raise task.exception()


def _sys_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _machine_busy_seconds() -> float:
    """CPU seconds all processes used since boot (/proc/stat, all but idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLK_TCK


async def _window(run: Run, server: ServerProcess) -> tuple[float, float, float, float, list[float]]:
    """CPU over the window (client, client in kernel, server, other processes); RSS once a second."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, run.window_start - loop.time()))
    cpu0, sys0, server0, busy0 = time.process_time(), _sys_seconds(), server.cpu_seconds(), _machine_busy_seconds()
    rss = [rss_mb()]
    t = run.window_start
    while t + 1.0 < run.window_end:
        t += 1.0
        await asyncio.sleep(max(0.0, t - loop.time()))
        rss.append(rss_mb())
    await asyncio.sleep(max(0.0, run.window_end - loop.time()))
    cpu1, sys1, server1, busy1 = time.process_time(), _sys_seconds(), server.cpu_seconds(), _machine_busy_seconds()
    rss.append(rss_mb())
    client, server_cpu = cpu1 - cpu0, server1 - server0
    return client, sys1 - sys0, server_cpu, max(0.0, busy1 - busy0 - client - server_cpu), rss


def run_mode(mode: str, pacing: str, n: int, seconds: float, loop_name: str,
             cpus: tuple[int | None, int | None]) -> Result:
    """One flavour against a fresh server child (client and server each on its own CPU, if there are two)."""
    client_cpu, server_cpu = cpus
    server = ServerProcess(hard_deadline_s=WARMUP_S + seconds + 120, loop_name=loop_name, cpu=server_cpu)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    try:
        url = f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime"
        with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
            result = runner.run(measure(mode, pacing, n, seconds, url, server))
    finally:
        report = server.stop()
    result.server = report
    if "error" in report:
        print(f"the load server failed: {report['error']}", file=sys.stderr)
    return result


# ---------------------------------------------------------------------------
# Printing


def _ms(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values * 1000, q)) if len(values) else float("nan")


_ROWS = [
    ("sessions", lambda r: f"{r.n}"),
    ("measured window (s)", lambda r: f"{r.window_s:.0f}"),
    ("client CPU (s)", lambda r: f"{r.cpu_s:.2f}"),
    ("client CPU (% of a core)", lambda r: f"{100 * r.cpu_s / r.window_s:.1f}"),
    ("  of which kernel (% of a core)", lambda r: f"{100 * r.sys_s / r.window_s:.1f}"),
    ("client CPU per session (% core)", lambda r: f"{r.cpu_per_session:.3f}"),
    ("sessions per core (extrapolated)", lambda r: f"{r.sessions_per_core:.0f}"),
    ("send lateness p50 (ms)", lambda r: f"{_ms(r.run.lateness, 50):.2f}"),
    ("send lateness p90 (ms)", lambda r: f"{_ms(r.run.lateness, 90):.2f}"),
    ("send lateness p99 (ms)", lambda r: f"{_ms(r.run.lateness, 99):.2f}"),
    ("send lateness p99.9 (ms)", lambda r: f"{_ms(r.run.lateness, 99.9):.2f}"),
    ("send lateness max (ms)", lambda r: f"{_ms(r.run.lateness, 100):.2f}"),
    ("appends sent /s/session", lambda r: f"{r.run.sent / r.window_s / r.n:.2f}"),
    ("deltas received /s/session", lambda r: f"{r.run.received / r.window_s / r.n:.2f}"),
    ("server CPU (% of a core)", lambda r: f"{100 * r.server_cpu_s / r.window_s:.1f}"),
    ("server send lateness p99 (ms)", lambda r: f"{r.server.get('late_p99_ms', float('nan')):.2f}"),
    ("server frames sent/received", lambda r: f"{r.server.get('sent', 0)}/{r.server.get('received', 0)}"),
    ("other processes CPU (% of a core)", lambda r: f"{100 * r.others_cpu_s / r.window_s:.1f}"),
    ("RSS before connect (MB)", lambda r: f"{r.rss_idle:.1f}"),
    ("RSS connected (MB)", lambda r: f"{r.rss_connected:.1f}"),
    ("RSS window first/last/max (MB)", lambda r: f"{r.rss[0]:.1f}/{r.rss[-1]:.1f}/{max(r.rss):.1f}"),
    ("ru_maxrss so far (MB)", lambda r: f"{r.maxrss_mb:.1f}"),
]


def print_table(results: list[Result], labels: list[str]) -> None:
    print(f"{'':<34}" + "".join(f"{label:>18}" for label in labels))
    for name, cell in _ROWS:
        print(f"{name:<34}" + "".join(f"{cell(r):>18}" for r in results))


def print_verdict(results: list[Result]) -> None:
    """Targets, from the median over repeats of each flavour."""
    ours = [r for r in results if r.mode == "rtproto"]
    bare = [r for r in results if r.mode == "bare"]
    which = "median of " + str(len(ours)) + " runs" if len(ours) > 1 else "one run"
    if ours:
        per_core = float(np.median([r.sessions_per_core for r in ours]))
        p99 = float(np.median([_ms(r.run.lateness, 99) for r in ours]))
        print(f"\nrtproto ({which}): {per_core:.0f} sessions per core (target >= 400), "
              f"p99 send lateness {p99:.2f} ms (target < 10 ms)")
    if bare:
        bare_cpu = float(np.median([r.cpu_per_session for r in bare]))
        for mode in ("rtproto", "transport"):
            mine = [r.cpu_per_session for r in results if r.mode == mode]
            if mine:
                cpu = float(np.median(mine))
                print(f"CPU per session: {mode} {cpu:.3f}% vs bare websockets {bare_cpu:.3f}% of a core: "
                      f"{100 * (cpu / bare_cpu - 1):+.1f}%" + (" (target <= +10%)" if mode == "rtproto" else ""))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"server children, CPU over their whole lives (RUSAGE_CHILDREN): {usage.ru_utime + usage.ru_stime:.2f} s")


_MODES = {"both": ("rtproto", "bare"), "all": ("rtproto", "transport", "bare"),
          "rtproto": ("rtproto",), "transport": ("transport",), "bare": ("bare",)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100, help="concurrent sessions (default 100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per run (default 20)")
    parser.add_argument("--mode", choices=tuple(_MODES), default="both",
                        help="both = rtproto and bare; all adds transport (rtproto's transport alone)")
    parser.add_argument("--pacing", choices=("shared", "per-session"), default="shared",
                        help="shared = one 1 ms ticker sends the appends of one slot of sessions (default); "
                             "per-session = every session sleeps until its own send time")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the event loop of client and server (uvloop must be installed; default asyncio)")
    parser.add_argument("--repeat", type=int, default=1, help="alternate the flavours this many times (default 1)")
    args = parser.parse_args(argv)
    if not (1 <= args.sessions <= 2000 and 1 <= args.seconds <= 300 and 1 <= args.repeat <= 10):
        parser.error("--sessions must be 1..2000, --seconds 1..300 and --repeat 1..10")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"python {sys.version.split()[0]}, websockets {websockets.__version__}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(load)}; {args.sessions} sessions, "
          f"{WARMUP_S:.0f} s warm-up + {args.seconds:.0f} s measured per run")
    print(f"pacing: {args.pacing}" + (f" (one ticker task, every {SLOT_S * 1000:g} ms, sends the appends of one of "
                                      f"{SLOTS} slots of sessions)" if args.pacing == "shared"
                                      else " (every session sleeps until its own send time)"))
    modes = _MODES[args.mode]
    plan = [(mode, i) for i in range(1, args.repeat + 1) for mode in modes]
    cpus = cpu_plan()
    print(f"client on CPU {cpus[0]}, server on CPU {cpus[1]}" if cpus[0] is not None
          else "one CPU: client and server share it")
    results = [run_mode(mode, args.pacing, args.sessions, args.seconds, args.loop, cpus) for mode, _ in plan]
    print_table(results, [f"{mode} #{i}" if args.repeat > 1 else mode for mode, i in plan])
    print_verdict(results)


if __name__ == "__main__":
    main()
