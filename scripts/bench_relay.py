"""Benchmark the recording relay against a bare websockets pass-through, on loopback only.

    python scripts/bench_relay.py [--sessions 100] [--rate 50] [--seconds 12] [--frame-bytes 1280]

One process (this one) runs an upstream server and N clients; each session sends
``rate`` frames per second each way (Realtime-shaped JSON: a timestamp and a base64
audio delta of ``frame-bytes`` characters). The proxy under test runs in a child
process, so that its CPU time (user + system, from /proc) is its own. Variants:

* ``direct``: clients connect straight to the upstream (the latency floor);
* ``bare``: the obvious pass-through, two ``async for`` loops per connection;
* ``relay``: :class:`rtproto.relay.Relay` without recording;
* ``relay+record``: the same, recording every session to a temporary directory.

Latency is one-way, sender to receiver, both in this process (``perf_counter``);
"added" is a variant's percentile minus ``direct``'s. CPU per session is the
proxy's CPU seconds / wall seconds / sessions (a fraction of one core). Everything
is bounded: a fixed number of sessions, a fixed duration, then the children stop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

import orjson
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

BARE = """
import asyncio, sys
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

async def pump(a, b):
    async for message in a:
        await b.send(message)

async def handle(client):
    async with connect(sys.argv[1] + client.request.path[len("/v1/realtime"):]) as upstream:
        await asyncio.gather(pump(client, upstream), pump(upstream, client), return_exceptions=True)

async def main():
    async with serve(handle, "127.0.0.1", 0) as server:
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
"""

RELAY = """
import asyncio, sys
from rtproto.relay import Relay

async def main():
    async with Relay(upstream=sys.argv[1], record_dir=sys.argv[2] or None) as relay:
        print(relay.port, flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Run:
    """Latencies (seconds) collected while a variant runs."""

    def __init__(self, frame_bytes: int):
        self.latencies: list[float] = []
        self.measuring = False
        self.delta = "A" * frame_bytes

    def frame(self) -> bytes:
        return orjson.dumps({"type": "response.output_audio.delta", "t": time.perf_counter(), "delta": self.delta})

    def received(self, message: str | bytes) -> None:
        if self.measuring:
            self.latencies.append(time.perf_counter() - orjson.loads(message)["t"])


async def paced_sender(ws, run: Run, rate: float, stop: asyncio.Event) -> None:
    period, due = 1.0 / rate, time.perf_counter()
    try:
        while not stop.is_set():
            await ws.send(run.frame().decode())
            due += period
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
    except Exception:  # noqa: BLE001 - the peer went away at the end of the run
        pass


async def receiver(ws, run: Run) -> None:
    try:
        async for message in ws:
            run.received(message)
    except Exception:  # noqa: BLE001
        pass


async def start_child(code: str, *args: str) -> tuple[asyncio.subprocess.Process, int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, *args, env=env,
                                                stdout=asyncio.subprocess.PIPE)
    return proc, int(await proc.stdout.readline())


async def run_variant(name: str, opts: argparse.Namespace) -> dict:
    run, stop = Run(opts.frame_bytes), asyncio.Event()
    tasks: list[asyncio.Task] = []

    async def upstream_handler(ws):
        sender = asyncio.create_task(paced_sender(ws, run, opts.rate, stop))
        await receiver(ws, run)
        sender.cancel()

    async with serve(upstream_handler, "127.0.0.1", 0, compression=None, max_size=None) as upstream:
        up_url = f"ws://127.0.0.1:{next(iter(upstream.sockets)).getsockname()[1]}/v1/realtime"
        proc, records = None, None
        if name == "direct":
            url = up_url
        else:
            records = tempfile.TemporaryDirectory() if name == "relay+record" else None
            code, args = (BARE, (up_url,)) if name == "bare" else (RELAY, (up_url, records.name if records else ""))
            proc, port = await start_child(code, *args)
            url = f"ws://127.0.0.1:{port}/v1/realtime"
        clients = [await connect(f"{url}?model=bench", compression=None, max_size=None) for _ in range(opts.sessions)]
        for ws in clients:
            tasks += [asyncio.create_task(paced_sender(ws, run, opts.rate, stop)),
                      asyncio.create_task(receiver(ws, run))]
        await asyncio.sleep(1.0)  # warm-up, not measured
        run.measuring = True
        cpu0, t0 = (cpu_seconds(proc.pid) if proc else 0.0), time.perf_counter()
        await asyncio.sleep(opts.seconds)
        cpu1, t1 = (cpu_seconds(proc.pid) if proc else 0.0), time.perf_counter()
        run.measuring = False
        stop.set()
        for ws in clients:
            await ws.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        if proc is not None:
            proc.kill()
            await proc.wait()
        if records is not None:
            records.cleanup()
    lat = sorted(run.latencies)
    return {"name": name, "frames": len(lat), "p50": statistics.median(lat), "p99": lat[int(0.99 * (len(lat) - 1))],
            "cpu": (cpu1 - cpu0) / (t1 - t0) / opts.sessions, "expected": 2 * opts.sessions * opts.rate * (t1 - t0)}


def table(rows: list[dict]) -> str:
    base = rows[0]
    out = [f"{'variant':<14}{'frames':>9}{'of':>9}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}"
           f"{'CPU/session':>13}"]
    for r in rows:
        added = "" if r is base else f"{(r['p50'] - base['p50']) * 1e3:>11.3f}{(r['p99'] - base['p99']) * 1e3:>11.3f}"
        cpu = "" if r is base else f"{r['cpu'] * 100:>12.3f}%"
        out.append(f"{r['name']:<14}{r['frames']:>9}{int(r['expected']):>9}{r['p50'] * 1e3:>9.3f}"
                   f"{r['p99'] * 1e3:>9.3f}{added or ' ' * 22}{cpu}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="frames per second each way per session")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--frame-bytes", type=int, default=1280, help="delta length (20 ms of 24 kHz PCM16 in base64)")
    parser.add_argument("--variants", default="direct,bare,relay,relay+record")
    opts = parser.parse_args()
    if not (1 <= opts.sessions <= 500 and 0 < opts.rate <= 200 and 0 < opts.seconds <= 60):
        parser.error("bounded runs only: sessions 1-500, rate up to 200/s, up to 60 s")
    rows = [asyncio.run(run_variant(name, opts)) for name in opts.variants.split(",")]
    print(f"{opts.sessions} sessions, {opts.rate:g} frames/s each way, {opts.seconds:g} s, loopback, "
          f"{os.cpu_count()} CPUs")
    print(table(rows))


if __name__ == "__main__":
    main()
