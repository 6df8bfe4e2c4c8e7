"""``talk --echo``: the real CLI on real PortAudio devices (ALSA's file plugin, no sound card).

The child's HOME holds an ``.asoundrc`` that makes ``speaker.raw`` the default speaker and
``mic.raw`` the default microphone (see ../shared/AUDIO-TESTING.md). That device is not
clocked, so these tests check the code path (which stream is opened, what is played,
what is sent, what the screen says), not timing; echo cancellation itself is measured by
scripts/bench_echo.py and tested in test_echo.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes.util
import os
from pathlib import Path

import numpy as np
import pytest

from cli_harness import (
    Conversation, appended_pcm, b64_pcm, cli_env, fixture_deltas, received_of, run_cli, running, speech_like, until,
)
from rtproto.echo import AEC_MISSING, EchoCanceller
from rtproto.testing import serve_transcript

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(ctypes.util.find_library("portaudio") is None,
                       reason="libportaudio2 is not installed (apt-get install libportaudio2)"),
]

ASOUNDRC = """\
pcm.!default {{
  type asym
  playback.pcm {{ type file  slave.pcm "null"  file "{speaker}"  format "raw" }}
  capture.pcm  {{ type file  slave.pcm "null"  file "/dev/null"  infile "{mic}"  format "raw" }}
}}
"""

# Makes ``import livekit`` fail in the child, as if the aec extra were not installed.
NO_LIVEKIT = 'import sys\nsys.modules["livekit"] = None\n'

TEXT = "The latest release of OpenAI Python is version 3.51.0."


def alsa_home(home: Path, mic: np.ndarray) -> dict[str, str]:
    """An environment whose default ALSA device plays into speaker.raw and records ``mic``."""
    (home / ".asoundrc").write_text(ASOUNDRC.format(speaker=home / "speaker.raw", mic=home / "mic.raw"))
    mic.astype("<i2").tofile(home / "mic.raw")
    return cli_env(home)


def without_livekit(home: Path, env: dict[str, str]) -> dict[str, str]:
    site = home / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_LIVEKIT)
    return {**env, "PYTHONPATH": f"{site}:{env['PYTHONPATH']}"}


class PacedMicrophone:
    """mic.fifo as the capture file: the device captures (and, being duplex, plays) exactly
    as much as the test writes, one 20 ms block per atomic write, so nothing is dropped."""

    def __init__(self, path: Path):
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDWR)  # never blocks, and holds the pipe open for the device

    async def speak(self, pcm: np.ndarray) -> None:
        for block in pcm.reshape(-1, 480):  # 960 bytes: below PIPE_BUF, and what PortAudio reads
            await asyncio.get_running_loop().run_in_executor(None, os.write, self.fd, block.astype("<i2").tobytes())

    async def hum(self) -> None:
        """Silence at about four times real time, until cancelled: a device that blocks in its read
        could not be stopped, and one at the end of its file would write hundreds of MB a second."""
        os.set_blocking(self.fd, False)
        while True:
            with contextlib.suppress(BlockingIOError):  # full: the device is not reading now
                os.write(self.fd, bytes(960))
            await asyncio.sleep(0.005)

    def close(self) -> None:
        os.close(self.fd)


async def test_echo_aec_sends_what_the_canceller_made_of_the_microphone_and_the_speaker(tmp_path: Path) -> None:
    env = alsa_home(tmp_path, np.zeros(0, np.int16))
    (tmp_path / "mic.raw").unlink()
    microphone = PacedMicrophone(tmp_path / "mic.raw")
    said = np.tile(speech_like(2.0), 6)  # 12 s, talking all the time the answer plays
    deltas = fixture_deltas("mcp_call.jsonl")  # a 6.4 s answer
    answer = b64_pcm(deltas)
    script = Conversation().session().answer("resp_A1", "item_A1", deltas, TEXT)
    try:
        async with serve_transcript(script.script, speed="max") as server:
            async with running("--url", server.url, "--echo", "aec", cwd=tmp_path, env=env) as cli:
                await cli.expect("echo: aec: echo cancellation (WebRTC AEC3), the microphone stays open "
                                 "(--echo aec; device latency ")
                lag_ms = float(cli.stdout.split("device latency ", 1)[1].split(" ms", 1)[0])
                for k in range(0, 600, 10):  # 200 ms at a time, each sent before the next is spoken
                    await microphone.speak(said[k * 480:(k + 10) * 480])
                    await until(lambda: len(received_of(server.received, "input_audio_buffer.append")) >= k + 10,
                                f"{k + 10} chunks sent", cli)
                humming = asyncio.create_task(microphone.hum())
                cli.interrupt()
                assert await cli.wait() == 0, cli.screen()
                humming.cancel()
    finally:
        microphone.close()

    # speaker.raw starts with the silence ALSA primes its buffer with (a few blocks): find where
    # the callbacks' output starts by where the canceller's output matches, on the first 2 s.
    lag = round(lag_ms * 24)
    heard = np.fromfile(tmp_path / "speaker.raw", "<i2")
    sent = appended_pcm(server.received)[: len(said)]
    primed = [n * 480 for n in range(11) if np.array_equal(sent[:48000], sends(said, heard, n * 480 - lag, 48000))]
    assert len(primed) == 1, f"no single alignment of the speaker and the microphone: {primed}"
    played = heard[primed[0]: primed[0] + len(said)]
    assert np.array_equal(played[played != 0], answer[answer != 0])  # the whole answer played, in order
    # Each captured sample went to the canceller with what the speaker played ``lag`` earlier, and
    # what was sent is exactly what the canceller made of them: the microphone was never muted.
    assert np.array_equal(sent, sends(said, heard, primed[0] - lag, len(said)))
    assert all(chunk.any() for chunk in sent.reshape(-1, 480)[1:])


def sends(said: np.ndarray, heard: np.ndarray, start: int, n: int) -> np.ndarray:
    """What the canceller makes of ``said`` paired with ``heard`` from ``start`` (before 0: silence)."""
    reference = np.concatenate((np.zeros(max(0, -start), np.int16), heard[max(0, start):]))[:n]
    return EchoCanceller(24000).process(said[:n], reference)


async def test_echo_auto_without_the_extra_falls_back_to_half_duplex(tmp_path: Path) -> None:
    env = without_livekit(tmp_path, alsa_home(tmp_path, speech_like(1.0)))
    script = Conversation().session().close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, cwd=tmp_path, env=env)
    assert code == 0, out + err
    assert (f"echo: half-duplex: the microphone is muted while the assistant speaks (auto: {AEC_MISSING})"
            in out), out + err


async def test_echo_aec_without_the_extra_is_refused_before_connecting(tmp_path: Path) -> None:
    env = without_livekit(tmp_path, alsa_home(tmp_path, speech_like(1.0)))
    code, out, err = await run_cli("--url", "ws://127.0.0.1:9/never", "--echo", "aec", cwd=tmp_path, env=env)
    assert code == 2, out + err
    assert AEC_MISSING in out + err
    assert "connecting" not in out + err


async def test_headphones_with_an_echo_guard_is_a_usage_error(tmp_path: Path) -> None:
    env = alsa_home(tmp_path, speech_like(1.0))
    code, out, err = await run_cli("--url", "ws://127.0.0.1:9/never", "--headphones", "--echo", "half-duplex",
                                   cwd=tmp_path, env=env)
    assert code == 2, out + err
    assert "--headphones keeps the microphone open: it cannot go with --echo half-duplex" in out + err
