"""Receive time of one large message: rtproto's ``_wsio`` framing against websockets' own parser.

Usage: ``python scripts/bench_frames.py [--runs 5] [--sizes 64K,1M,16M,64M] [--read 16384] [--text]``

One unmasked frame of each size (binary, or ASCII text with ``--text``) is
fed in reads of ``--read`` bytes (16 KiB, what the socket delivers per read),
as the event loop would:

* ``rtproto``: each read is copied into the buffer ``WebSocketIO.get_buffer``
  hands out (what ``recv_into`` does): its read buffer, or, once a long
  message's header has arrived, the rest of that message's own buffer; then
  ``buffer_updated`` is called and the message is taken from ``io.frames``;
* ``websockets``: each read is copied into a new ``bytes`` object (what the
  socket's ``recv`` does for websockets' asyncio layer, a plain
  ``asyncio.Protocol``), which a ``ClientProtocol`` gets through
  ``receive_data``, then ``events_received``: the frame is parsed, nothing more.

Each side thus pays the one copy out of the socket that it pays for real.

Both start OPEN (no handshake) with no size bound. The table shows the best
of ``--runs`` runs of each, the ratio rtproto / websockets (target: at most
1.5 at every size) and the longest single call (an event-loop stall).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import websockets
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from rtproto._wsio import WebSocketIO

URI = parse_uri("ws://127.0.0.1/")
UNITS = {"K": 1024, "M": 1024 * 1024}


class Sink:
    """The smallest asyncio transport a ``WebSocketIO`` writes to: it keeps nothing."""

    def write(self, data: bytes) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def abort(self) -> None:
        pass


def frame(size: int, text: bool) -> bytes:
    """One unmasked, final frame of ``size`` payload bytes, as a server writes it."""
    head = bytes([0x81 if text else 0x82])
    if size < 126:
        head += bytes([size])
    elif size < 65536:
        head += bytes([126]) + size.to_bytes(2, "big")
    else:
        head += bytes([127]) + size.to_bytes(8, "big")
    return head + b"a" * size


def reads(wire: bytes, read: int) -> list[bytes]:
    """The frame cut as the socket delivers it."""
    return [wire[at : at + read] for at in range(0, len(wire), read)]


def run_rtproto(chunks: list[bytes], size: int) -> tuple[float, float]:
    """Total and longest-call seconds to receive the message through ``WebSocketIO``."""

    async def go() -> tuple[float, float]:
        protocol = ClientProtocol(URI, state=State.OPEN, max_size=None)
        io = WebSocketIO(protocol, ping_interval=None, ping_timeout=None)
        io.connection_made(Sink())
        longest, clock = 0.0, time.perf_counter
        started = clock()
        for chunk in chunks:
            before = clock()
            buffer = io.get_buffer(-1)  # the read buffer, or the rest of a long message's own buffer
            buffer[: len(chunk)] = chunk  # chunks end at the frame's end, so each one fits
            io.buffer_updated(len(chunk))
            longest = max(longest, clock() - before)
        total = clock() - started
        assert len(io.frames) == 1 and len(io.frames[0]) == size
        return total, longest

    return asyncio.run(go())


def run_websockets(chunks: list[bytes], size: int) -> tuple[float, float]:
    """Total and longest-call seconds to receive the message through websockets' ``ClientProtocol``."""
    protocol = ClientProtocol(URI, state=State.OPEN, max_size=None)
    frames, longest, clock = [], 0.0, time.perf_counter
    started = clock()
    for chunk in chunks:
        before = clock()
        protocol.receive_data(bytes(memoryview(chunk)))  # recv: a new bytes object per read
        frames += protocol.events_received()
        longest = max(longest, clock() - before)
    total = clock() - started
    assert len(frames) == 1 and frames[0].opcode in (Opcode.TEXT, Opcode.BINARY) and len(frames[0].data) == size
    return total, longest


def best(runner, chunks: list[bytes], size: int, runs: int) -> tuple[float, float]:
    """The fastest total over ``runs`` runs, and the smallest of their longest single calls."""
    results = [runner(chunks, size) for _ in range(runs)]
    return min(r[0] for r in results), min(r[1] for r in results)


def parse_size(text: str) -> int:
    unit = UNITS.get(text[-1].upper(), 1)
    return int(text[:-1] if unit > 1 else text) * unit


def label(size: int) -> str:
    return f"{size // UNITS['M']} MiB" if size >= UNITS["M"] else f"{size // UNITS['K']} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="64K,1M,16M,64M")
    parser.add_argument("--read", type=int, default=16384)
    parser.add_argument("--text", action="store_true", help="ASCII text frames (default: binary)")
    args = parser.parse_args()
    kind = "text" if args.text else "binary"
    print(f"websockets {websockets.__version__}, one {kind} message in {args.read}-byte reads, best of {args.runs}")
    print(f"{'size':>8} | {'rtproto ms':>10} | {'websockets ms':>13} | {'ratio':>5} | "
          f"{'rtproto longest call ms':>23} | {'websockets longest call ms':>26}")
    for size in map(parse_size, args.sizes.split(",")):
        chunks = reads(frame(size, args.text), args.read)
        ours, our_stall = best(run_rtproto, chunks, size, args.runs)
        theirs, their_stall = best(run_websockets, chunks, size, args.runs)
        print(f"{label(size):>8} | {ours * 1e3:10.2f} | {theirs * 1e3:13.2f} | {ours / theirs:5.2f} | "
              f"{our_stall * 1e3:23.2f} | {their_stall * 1e3:26.2f}")


if __name__ == "__main__":
    main()
