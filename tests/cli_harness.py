"""A harness for end-to-end CLI tests: the real ``python -m rtproto.run`` as a subprocess.

:class:`Cli` runs the CLI and collects its output as it arrives, so that a test
can wait for a line, answer on stdin, or press Ctrl-C; :class:`Conversation`
scripts the server side with realistic GA events for
:func:`rtproto.testing.serve_transcript`. Every wait is on a condition under a
time limit (``LIMIT``), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtproto import codec
from rtproto.testing import ScriptBuilder
from rtproto.transcript import RAW_FRAME_TYPE, read_transcript

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
LIMIT = 60.0  # seconds: the bound of every wait and every process
RATE = 24000

# -- the CLI process -------------------------------------------------------------


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: no API key, no proxy, no colour, rtproto and tests/ importable."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "NO_COLOR") and not k.lower().endswith("_proxy")}
    env.update(HOME=str(home), NO_COLOR="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, (str(REPO), str(TESTS), os.environ.get("PYTHONPATH")))))
    env.update(extra)
    return env


class Cli:
    """One running ``python -m rtproto.run`` whose stdout and stderr are collected as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self._out = {"stdout": bytearray(), "stderr": bytearray()}
        self._changed = asyncio.Event()
        self._pumps = [asyncio.create_task(self._pump(proc.stdout, "stdout")),
                       asyncio.create_task(self._pump(proc.stderr, "stderr"))]

    @classmethod
    async def start(cls, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Cli:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtproto.run", *args, cwd=cwd, env=env or cli_env(cwd),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(proc)

    async def _pump(self, stream: asyncio.StreamReader, name: str) -> None:
        while chunk := await stream.read(65536):
            self._out[name] += chunk
            self._changed.set()

    @property
    def stdout(self) -> str:
        return self._out["stdout"].decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self._out["stderr"].decode("utf-8", "replace")

    async def expect(self, text: str, stream: str = "stdout", timeout: float = LIMIT) -> None:
        """Wait until ``text`` has appeared on ``stream`` (fails, showing the output, if it does not)."""
        try:
            async with asyncio.timeout(timeout):
                while text not in getattr(self, stream):
                    if self.proc.returncode is not None and all(p.done() for p in self._pumps):
                        break
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass
        assert text in getattr(self, stream), f"{text!r} never appeared on {stream}\n{self.screen()}"

    def write(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")

    def close_stdin(self) -> None:
        self.proc.stdin.close()

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.proc.send_signal(signal.SIGINT)

    async def wait(self, timeout: float = LIMIT) -> int:
        """The exit code, once the process has ended and its output is read."""
        try:
            async with asyncio.timeout(timeout):
                code = await self.proc.wait()
                await asyncio.gather(*self._pumps)
        except TimeoutError:
            pytest.fail(f"the CLI did not exit within {timeout} s\n{self.screen()}")
        return code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def screen(self) -> str:
        return f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


@contextlib.asynccontextmanager
async def running(*args: str, cwd: Path, env: dict[str, str] | None = None) -> AsyncIterator[Cli]:
    """Run the CLI for the block; it is killed at the end if it is still running."""
    cli = await Cli.start(*args, cwd=cwd, env=env)
    try:
        yield cli
    finally:
        await cli.kill()


# Runs the CLI and then prints its own peak RSS (VmHWM, KiB) last on stderr: getrusage's
# ru_maxrss would also count the parent's peak, which a child inherits across exec.
MEASURED_CLI = (
    "import re, sys\n"
    "from rtproto.run import main\n"
    "code = main(sys.argv[1:])\n"
    "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "print('maxrss', peak, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def peak_rss_kib(stderr: str) -> int:
    """The peak RSS a :data:`MEASURED_CLI` run printed last on its stderr."""
    return int(stderr.rsplit("maxrss", 1)[-1])


async def run_cli(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None,
                  timeout: float = LIMIT) -> tuple[int, str, str]:
    """Run the CLI to its end with ``stdin``; returns (exit code, stdout, stderr)."""
    async with running(*args, cwd=cwd, env=env) as cli:
        cli.proc.stdin.write(stdin.encode())
        cli.close_stdin()
        code = await cli.wait(timeout)
        return code, cli.stdout, cli.stderr


async def until(predicate: Callable[[], bool], what: str, cli: Cli | None = None, timeout: float = LIMIT) -> None:
    """Poll ``predicate`` until it holds (a condition, not a timed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{cli.screen() if cli else ''}")
        await asyncio.sleep(0.02)


# -- audio and events --------------------------------------------------------------


def speech_like(seconds: float, seed: int = 7) -> np.ndarray:
    """Deterministic voiced-sounding audio: harmonics of a gliding pitch, syllable envelope, breath noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t) ** 2
    signal_ = 0.3 * envelope * voice / 2.6 + 0.01 * rng.standard_normal(len(t))
    return codec.float_to_pcm16(signal_)


def b64_pcm(deltas: list[str]) -> np.ndarray:
    return np.concatenate([codec.b64_to_pcm16(d) for d in deltas]) if deltas else np.zeros(0, np.int16)


def fixture_events(name: str, direction: str = "server") -> list[dict]:
    transcript = read_transcript(FIXTURES / name)
    return [line.event for line in transcript.lines if line.dir == direction]


def fixture_deltas(name: str) -> list[str]:
    """The assistant's audio deltas of the first answer in a fixture (real synthesised speech)."""
    deltas = [e for e in fixture_events(name) if e["type"] == "response.output_audio.delta"]
    first_item = deltas[0]["item_id"]
    return [e["delta"] for e in deltas if e["item_id"] == first_item]


def fixture_user_audio(name: str) -> np.ndarray:
    """What the user said in a fixture (its recorded appends)."""
    return b64_pcm([e["audio"] for e in fixture_events(name, "client") if e["type"] == "input_audio_buffer.append"])


def received_of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e.get("type") == kind]


def appended_pcm(events: list[dict]) -> np.ndarray:
    return b64_pcm([e["audio"] for e in received_of(events, "input_audio_buffer.append")])


def recorded(path: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """The (client, server, local) events of a ``--record`` transcript."""
    transcript = read_transcript(path)
    return transcript.client_events(), transcript.server_events(), transcript.local_events()


def non_audio(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] != "input_audio_buffer.append"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- scripted conversations ----------------------------------------------------------


class Conversation:
    """Builds realistic GA server events (ids, shapes and usage as the live server sends them)."""

    def __init__(self, **header: Any):
        self.script = ScriptBuilder(model="gpt-realtime", **header)
        self._ids = itertools.count(1)

    def event_id(self) -> str:
        return f"event_{next(self._ids):04d}"

    def server(self, kind: str, after_ms: float = 0.0, **fields: Any) -> Conversation:
        self.script.server(kind, event_id=self.event_id(), after_ms=after_ms, **fields)
        return self

    def expect(self, kind: str) -> Conversation:
        self.script.expect_client(kind)
        return self

    def raw(self, text: str) -> Conversation:
        """A frame that is not a JSON event, sent as it is."""
        self.script.server({"type": RAW_FRAME_TYPE, "raw": text})
        return self

    def close(self, code: int | None, reason: str = "", after_ms: float = 0.0) -> Conversation:
        self.script.close(code, reason, after_ms=after_ms)
        return self

    def session(self) -> Conversation:
        session = {"type": "realtime", "object": "realtime.session", "id": "sess_T1", "model": "gpt-realtime",
                   "output_modalities": ["audio"],
                   "audio": {"output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "marin"}}}
        return (self.server("session.created", session=session).expect("session.update")
                .server("session.updated", session=session))

    def response_created(self, response_id: str) -> Conversation:
        return self.server("response.created", response={
            "object": "realtime.response", "id": response_id, "status": "in_progress", "output": []})

    def message_started(self, response_id: str, item_id: str) -> Conversation:
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
                "role": "assistant", "content": []}
        ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        return (self.server("response.output_item.added", response_id=response_id, output_index=0, item=item)
                .server("conversation.item.added", item=item)
                .server("response.content_part.added", **ids, part={"type": "audio", "transcript": ""}))

    def message_audio(self, response_id: str, item_id: str, deltas: list[str], text: str,
                      after_ms: float = 0.0) -> Conversation:
        ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        words = text.split(" ")
        for i, delta in enumerate(deltas):
            if i < len(words):
                self.server("response.output_audio_transcript.delta", **ids, delta=(" " if i else "") + words[i])
            self.server("response.output_audio.delta", **ids, delta=delta, after_ms=after_ms)
        for word in words[len(deltas):]:
            self.server("response.output_audio_transcript.delta", **ids, delta=" " + word)
        return self

    def message_done(self, response_id: str, item_id: str, text: str, status: str = "completed",
                     details: dict | None = None) -> Conversation:
        ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        item = {"id": item_id, "object": "realtime.item", "type": "message",
                "status": "completed" if status == "completed" else "incomplete", "role": "assistant",
                "content": [{"type": "output_audio", "transcript": text}]}
        if status == "completed":
            (self.server("response.output_audio.done", **ids)
             .server("response.output_audio_transcript.done", **ids, transcript=text)
             .server("response.content_part.done", **ids, part={"type": "audio", "transcript": text})
             .server("response.output_item.done", response_id=response_id, output_index=0, item=item))
        self.server("conversation.item.done", item=item)
        return self.response_done(response_id, [item], status, details)

    def response_done(self, response_id: str, output: list[dict], status: str = "completed",
                      details: dict | None = None) -> Conversation:
        usage = {"total_tokens": 170, "input_tokens": 120, "output_tokens": 50,
                 "input_token_details": {"text_tokens": 100, "audio_tokens": 20, "cached_tokens": 64},
                 "output_token_details": {"text_tokens": 10, "audio_tokens": 40}}
        return self.server("response.done", response={
            "object": "realtime.response", "id": response_id, "status": status, "status_details": details,
            "output": output, "usage": usage})

    def answer(self, response_id: str, item_id: str, deltas: list[str], text: str) -> Conversation:
        """A whole spoken answer."""
        return (self.response_created(response_id).message_started(response_id, item_id)
                .message_audio(response_id, item_id, deltas, text).message_done(response_id, item_id, text))
