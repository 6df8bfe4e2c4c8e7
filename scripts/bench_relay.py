"""Benchmark the recording relay against a bare websockets pass-through, on loopback only.

    python scripts/bench_relay.py [--sessions 100] [--rate 50] [--seconds 12] [--frame-bytes 1280] [--repeat 3]

Three processes per run, so that each one's CPU time (user + system, from
/proc) is its own:

* the *upstream* generator: a websocket server that, on every connection,
  sends ``rate`` frames per second and times the frames it receives;
* the *proxy* under test (none for ``direct``);
* the *client* generator: ``sessions`` connections through the proxy, each
  sending ``rate`` frames per second and timing the frames it receives.

Frames are Realtime-shaped JSON: a type, the sender's ``time.monotonic()``
(system-wide on Linux, so a receiver in another process can subtract it) and a
base64 audio delta of ``frame-bytes`` characters. Each generator paces all its
sessions from one 1 ms clock, session ``i`` sending in slot ``i`` of the frame
period, so that frames are spread evenly rather than sent in bursts. Both
generators use rtproto's ``_wsio`` I/O (the same for every variant).
Variants:

* ``direct``: the client generator connects straight to the upstream one (the floor);
* ``bare``: the obvious websockets pass-through, two ``async for`` loops per connection;
* ``relay``: :class:`rtproto.relay.Relay` without recording;
* ``relay+record``: the same, recording every session to a temporary directory.

Latency is one-way, sender to receiver, over frames sent in the measured
window (after a warm-up); "added" is a variant's percentile minus ``direct``'s
in the same round. CPU per session is the proxy's CPU seconds / wall seconds /
sessions (a fraction of one core); RSS is the proxy's peak (VmHWM). With
``--pin`` (the default on a machine of 2+ CPUs) the proxy runs alone on the
last CPU and the generators share the others. ``--repeat`` runs every variant
that many times, round-robin, and the table shows medians with [min-max]
ranges. Everything is bounded: sessions, duration and repeats are capped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
WARMUP = 2.0  # seconds from the first frame to the measured window
SETTLE = 1.0  # seconds after the window while frames in flight arrive

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


# -- the generators (run as child processes of this script) ---------------------------------


class Timing:
    """Receive latencies (s) of frames sent inside ``[start, end)``."""

    def __init__(self, start: float, end: float):
        self.start, self.end, self.latencies = start, end, []

    def received(self, frame: bytes) -> None:
        sent = orjson.loads(frame)["t"]
        if self.start <= sent < self.end:
            self.latencies.append(time.monotonic() - sent)


async def pace(ends: list, rate: float, delta: str, stop: float) -> None:
    """Send ``rate`` frames/s on every end until ``stop``, end ``i`` in slot ``i`` of the period."""
    slots = max(1, round(1000 / rate))
    t0, tick = time.monotonic(), 0
    while True:
        due = t0 + tick / 1000
        now = time.monotonic()
        if now >= stop:
            return
        if due > now:
            await asyncio.sleep(due - now)
        for io in ends[tick % slots :: slots]:  # ends may still be joining (the upstream's accepts)
            if io.protocol.state.name == "OPEN":
                io.send_text(orjson.dumps({"type": "response.output_audio.delta", "t": time.monotonic(),
                                           "delta": delta}))
        tick += 1


async def upstream_role(opts: argparse.Namespace) -> None:
    from websockets.server import ServerProtocol

    from rtproto._wsio import WebSocketIO

    timing, ends = Timing(opts.start, opts.end), []

    async def serve_one(io: WebSocketIO) -> None:
        request = await io.handshake()
        io.respond(io.protocol.accept(request))
        ends.append(io)
        await io.deliver(timing.received)

    def accept() -> WebSocketIO:
        io = WebSocketIO(ServerProtocol(max_size=None), ping_interval=None, ping_timeout=None)
        asyncio.get_running_loop().create_task(serve_one(io))
        return io

    server = await asyncio.get_running_loop().create_server(accept, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await pace(ends, opts.rate, "A" * opts.frame_bytes, opts.end + SETTLE)
    print(json.dumps(timing.latencies), flush=True)


async def client_role(opts: argparse.Namespace) -> None:
    import logging

    from rtproto._wsio import open_websocket

    timing, log = Timing(opts.start, opts.end), logging.getLogger("bench")
    ends = [await open_websocket(f"{opts.url}?model=bench", {}, user_agent=None, open_timeout=30,
                                 ping_interval=None, ping_timeout=None, logger=log)
            for _ in range(opts.sessions)]
    readers = [asyncio.ensure_future(io.deliver(timing.received)) for io in ends]
    await pace(ends, opts.rate, "A" * opts.frame_bytes, opts.end + SETTLE)
    await asyncio.gather(*(io.close(1000, "") for io in ends), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)
    print(json.dumps(timing.latencies), flush=True)


# -- the orchestration ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def child(args: list[str], cpus: set[int] | None) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE)
    if cpus:
        os.sched_setaffinity(proc.pid, cpus)
    return proc


async def run_variant(name: str, opts: argparse.Namespace) -> dict:
    ncpu = os.cpu_count() or 1
    proxy_cpus, gen_cpus = ({ncpu - 1}, set(range(ncpu - 1))) if opts.pin and ncpu > 1 else (None, None)
    start = time.monotonic() + opts.connect_seconds + WARMUP
    end = start + opts.seconds
    window = ["--start", repr(start), "--end", repr(end), "--rate", repr(opts.rate),
              "--frame-bytes", str(opts.frame_bytes)]
    me = [str(Path(__file__).resolve())]
    upstream = await child([*me, "--role", "upstream", *window], gen_cpus)
    up_url = f"ws://127.0.0.1:{int(await upstream.stdout.readline())}/v1/realtime"
    proxy, records = None, None
    url = up_url
    if name != "direct":
        records = tempfile.TemporaryDirectory() if name == "relay+record" else None
        code = BARE if name == "bare" else RELAY
        proxy = await child(["-c", code, up_url, records.name if records else ""], proxy_cpus)
        url = f"ws://127.0.0.1:{int(await proxy.stdout.readline())}/v1/realtime"
    client = await child([*me, "--role", "client", "--url", url, "--sessions", str(opts.sessions), *window], gen_cpus)
    procs = [p for p in (upstream, proxy, client) if p is not None]
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu0 = [cpu_seconds(p.pid) for p in procs]
    t0 = time.monotonic()
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    cpu1 = [cpu_seconds(p.pid) for p in procs]
    wall = time.monotonic() - t0
    rss = peak_rss_mb(proxy.pid) if proxy else 0.0
    latencies = json.loads(await client.stdout.read()) + json.loads(await upstream.stdout.read())
    for p in procs:
        if p.returncode is None:
            p.kill()
        await p.wait()
    if records is not None:
        records.cleanup()
    cpu = [(b - a) / wall for a, b in zip(cpu0, cpu1)]
    lat = sorted(latencies)
    return {"name": name, "frames": len(lat), "expected": 2 * opts.sessions * opts.rate * opts.seconds,
            "p50": statistics.median(lat), "p99": lat[int(0.99 * (len(lat) - 1))],
            "cpu": cpu[1] / opts.sessions if proxy else 0.0, "gen_cpu": cpu[0] + cpu[-1], "rss": rss}


def summary(values: list[float], scale: float, fmt: str) -> str:
    mid = statistics.median(values) * scale
    if len(values) == 1:
        return format(mid, fmt)
    return f"{format(mid, fmt)} [{format(min(values) * scale, fmt)}-{format(max(values) * scale, fmt)}]"


def table(rounds: list[dict[str, dict]], names: list[str]) -> str:
    out = ["| variant | frames (of) | p50 / p99 end-to-end ms | added p50 ms | added p99 ms | proxy CPU per "
           "session | proxy peak RSS MB | generators' CPU |", "|---|---|---|---|---|---|---|---|"]
    for name in names:
        runs = [r[name] for r in rounds]
        added50 = [r[name]["p50"] - r["direct"]["p50"] for r in rounds] if "direct" in names else []
        added99 = [r[name]["p99"] - r["direct"]["p99"] for r in rounds] if "direct" in names else []
        proxied = name != "direct"
        out.append(" | ".join([
            f"| {name}", f"{statistics.median(r['frames'] for r in runs):.0f} ({runs[0]['expected']:.0f})",
            f"{summary([r['p50'] for r in runs], 1e3, '.2f')} / {summary([r['p99'] for r in runs], 1e3, '.2f')}",
            summary(added50, 1e3, ".2f") if proxied and added50 else "",
            summary(added99, 1e3, ".2f") if proxied and added99 else "",
            summary([r["cpu"] for r in runs], 100, ".3f") + " %" if proxied else "",
            summary([r["rss"] for r in runs], 1, ".1f") if proxied else "",
            summary([r["gen_cpu"] for r in runs], 100, ".0f") + " %",
        ]) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="frames per second each way per session")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--frame-bytes", type=int, default=1280, help="delta length (20 ms of 24 kHz PCM16 in base64)")
    parser.add_argument("--variants", default="direct,bare,relay,relay+record")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every variant (medians and ranges)")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="the proxy alone on the last CPU, the generators on the others")
    parser.add_argument("--role", choices=["upstream", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--end", type=float, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.role:
        asyncio.run(upstream_role(opts) if opts.role == "upstream" else client_role(opts))
        return
    if not (1 <= opts.sessions <= 500 and 0 < opts.rate <= 200 and 0 < opts.seconds <= 60 and 1 <= opts.repeat <= 9):
        parser.error("bounded runs only: sessions 1-500, rate up to 200/s, up to 60 s, 1-9 repeats")
    opts.connect_seconds = 1.0 + opts.sessions / 100  # time to open every session before the warm-up
    names = opts.variants.split(",")
    rounds = [{name: asyncio.run(run_variant(name, opts)) for name in names} for _ in range(opts.repeat)]
    print(f"{opts.sessions} sessions, {opts.rate:g} frames/s each way, {opts.seconds:g} s measured, "
          f"{opts.repeat} round(s), loopback, {os.cpu_count()} CPUs{', proxy pinned' if opts.pin else ''}")
    print(table(rounds, names))


if __name__ == "__main__":
    main()
