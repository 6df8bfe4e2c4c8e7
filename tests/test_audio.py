"""Tests of rtproto.audio: jitter buffer, WAV sources and sinks, and real PortAudio devices.

Device tests run PortAudio in a child process whose HOME holds an ``.asoundrc`` that
turns ALSA's ``file`` plugin into the default device: playback lands in speaker.raw,
capture reads mic.raw. That device is not clocked (callbacks run as fast as the CPU
allows), so these tests check the data path and accounting, never timing.
"""

from __future__ import annotations

import asyncio
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rtproto
from rtproto import codec
from rtproto.audio import ChunkQueue, JitterBuffer, NullSink, WavSink, WavSource

pytestmark = pytest.mark.timeout(60)

RATE = 24000
BLOCK = 480  # 20 ms at 24 kHz
ROOT = Path(rtproto.__file__).resolve().parents[1]


def tone(n: int, freq: float = 440.0, rate: int = RATE, amp: float = 8000.0) -> np.ndarray:
    """A sine with no zero samples, so the audio in a recording can be told from silence."""
    pcm = np.round(amp * np.sin(2 * np.pi * freq * (np.arange(n) + 0.5) / rate)).astype(np.int16)
    pcm[pcm == 0] = 1
    return pcm


def sine_at(times: np.ndarray, freq: float, amp: float) -> np.ndarray:
    """The ideal (unquantised) sine at ``times`` seconds."""
    return amp * np.sin(2 * np.pi * freq * times)


class FakeClock:
    """Time that moves only when slept on, each wake-up ``oversleep`` seconds late."""

    def __init__(self, oversleep: float = 0.0):
        self.now = 0.0
        self.oversleep = oversleep
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay + self.oversleep
        await asyncio.sleep(0)


# -- JitterBuffer ---------------------------------------------------------------------


def test_pull_plays_keys_in_push_order_and_pads_underrun():
    buffer = JitterBuffer(prebuffer_ms=0)
    a, b = tone(700), tone(300, freq=1000)
    buffer.push(("a", 0), a)
    buffer.push(("b", 1), b)

    assert np.array_equal(buffer.pull(BLOCK), a[:480])
    assert np.array_equal(buffer.pull(BLOCK), np.concatenate((a[480:], b[:260])))
    assert (buffer.played(("a", 0)), buffer.played(("b", 1))) == (700, 260)
    tail = buffer.pull(BLOCK)
    assert np.array_equal(tail, np.concatenate((b[260:], np.zeros(440, np.int16))))
    assert buffer.played(("b", 1)) == 300
    assert buffer.buffered_samples == 0
    assert not buffer.pull(BLOCK).any()


def test_pull_into_reports_the_audio_prefix():
    buffer = JitterBuffer(prebuffer_ms=0)
    buffer.push("k", tone(100))
    out = np.full(BLOCK, 7, np.int16)
    assert buffer.pull_into(out) == 100
    assert np.array_equal(out[:100], tone(100)) and not out[100:].any()


def test_clear_drops_unplayed_audio_and_reports_every_key_seen():
    buffer = JitterBuffer(prebuffer_ms=0)
    buffer.push(("a", 0), tone(1000))
    buffer.push(("b", 0), tone(500))
    buffer.pull(600)

    assert buffer.clear() == {("a", 0): 600, ("b", 0): 0}
    assert buffer.buffered_samples == 0
    assert not buffer.pull(BLOCK).any()
    assert buffer.played(("a", 0)) == 600
    buffer.push(("c", 0), tone(200, freq=300))
    assert np.array_equal(buffer.pull(200), tone(200, freq=300))
    assert buffer.clear() == {("a", 0): 600, ("b", 0): 0, ("c", 0): 200}


def test_prebuffer_holds_playback_until_60_ms_are_buffered():
    buffer = JitterBuffer(prebuffer_ms=60)  # 1440 samples
    pcm = tone(2000)
    buffer.push("k", pcm[:1000])
    assert not buffer.pull(BLOCK).any()
    assert buffer.played("k") == 0
    buffer.push("k", pcm[1000:])
    assert np.array_equal(buffer.pull(BLOCK), pcm[:480])


def test_prebuffer_releases_short_audio_after_waiting_60_ms():
    buffer = JitterBuffer(prebuffer_ms=60)
    buffer.push("k", tone(300))
    silent = [buffer.pull(BLOCK) for _ in range(3)]
    assert not any(block.any() for block in silent)
    assert np.array_equal(buffer.pull(BLOCK)[:300], tone(300))
    assert buffer.played("k") == 300


def test_prebuffer_applies_again_after_the_buffer_ran_dry():
    buffer = JitterBuffer(prebuffer_ms=60)
    buffer.push("k", tone(1440))
    for _ in range(3):
        assert buffer.pull(BLOCK).any()
    buffer.push("k", tone(480))
    assert not buffer.pull(BLOCK).any()
    assert buffer.played("k") == 1440


def test_overflow_keeps_the_oldest_audio_and_counts_the_rest():
    buffer = JitterBuffer(rate=1000, prebuffer_ms=0, max_seconds=1)  # 1000 samples
    a, b = tone(800, rate=1000, freq=50), tone(500, rate=1000, freq=120)
    buffer.push("a", a)
    buffer.push("b", b)
    assert buffer.overflow_samples == 300
    assert buffer.buffered_samples == 1000
    assert np.array_equal(buffer.pull(1000), np.concatenate((a, b[:200])))


def test_push_rejects_audio_that_is_not_int16_mono():
    buffer = JitterBuffer()
    with pytest.raises(ValueError, match="got dtype float32 shape"):
        buffer.push("k", np.zeros(10, np.float32))
    with pytest.raises(ValueError, match=r"shape \(10, 2\)"):
        buffer.push("k", np.zeros((10, 2), np.int16))
    with pytest.raises(ValueError, match="got bytes"):
        buffer.push("k", b"\x00\x00")
    assert buffer.buffered_samples == 0


_ops = st.lists(st.one_of(
    st.tuples(st.just("push"), st.sampled_from("abc"), st.integers(0, 700)),
    st.tuples(st.just("pull"), st.integers(1, 700)),
    st.tuples(st.just("clear")),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_jitter_buffer_matches_a_fifo_of_samples(ops):
    buffer = JitterBuffer(prebuffer_ms=0)
    fifo: list[tuple[str, int]] = []
    played: dict[str, int] = {}
    counter = 1
    for op in ops:
        if op[0] == "push":
            _, key, n = op
            pcm = np.arange(counter, counter + n, dtype=np.int16)
            counter += n
            buffer.push(key, pcm)
            fifo += [(key, int(v)) for v in pcm]
            played.setdefault(key, 0)
        elif op[0] == "pull":
            taken, fifo = fifo[:op[1]], fifo[op[1]:]
            for key, _ in taken:
                played[key] += 1
            expected = [v for _, v in taken] + [0] * (op[1] - len(taken))
            assert buffer.pull(op[1]).tolist() == expected
        else:
            fifo = []
            assert buffer.clear() == played
        assert buffer.buffered_samples == len(fifo)
    assert {key: buffer.played(key) for key in played} == played


# -- ChunkQueue -----------------------------------------------------------------------


async def test_chunk_queue_drops_the_oldest_when_full():
    queue = ChunkQueue(3)
    producer = threading.Thread(target=lambda: [queue.put(i) for i in range(10)])
    producer.start()
    producer.join(5)
    assert [await queue.get() for _ in range(3)] == [7, 8, 9]
    assert queue.dropped == 7
    assert len(queue) == 0


async def test_chunk_queue_wakes_a_waiting_get_from_another_thread():
    queue = ChunkQueue(3)
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0.001)
    assert not getter.done()
    threading.Thread(target=queue.put, args=("chunk",)).start()
    assert await asyncio.wait_for(getter, 5) == "chunk"


async def test_chunk_queue_close_ends_get_after_the_queued_items():
    queue = ChunkQueue(3)
    queue.put(1)
    getter = asyncio.create_task(queue.get())
    assert await asyncio.wait_for(getter, 5) == 1
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0.001)
    queue.close()
    assert await asyncio.wait_for(getter, 5) is None
    queue.put(2)
    assert await queue.get() is None


def test_chunk_queue_needs_room_for_one_chunk():
    with pytest.raises(ValueError, match="at least 1"):
        ChunkQueue(0)


# -- WavSource ------------------------------------------------------------------------


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE) -> Path:
    codec.write_wav(path, pcm, rate)
    return path


async def take(source: WavSource, count: int, on_chunk=None) -> list[np.ndarray]:
    """The first ``count`` chunks of ``source``, then close it and let chunks() end."""

    async def run() -> list[np.ndarray]:
        chunks = []
        async for chunk in source.chunks():
            chunks.append(chunk)
            if on_chunk:
                on_chunk(len(chunks) - 1)
            if len(chunks) == count:
                source.close()
        return chunks

    return await asyncio.wait_for(run(), 5)


async def test_wav_source_paces_by_an_absolute_schedule(tmp_path):
    pcm = tone(3 * BLOCK + 100)
    clock = FakeClock(oversleep=0.003)
    source = WavSource(write_wav(tmp_path / "in.wav", pcm), clock=clock, sleep=clock.sleep)
    times, finished = [], []

    def seen(index: int) -> None:
        times.append(clock.now)
        finished.append(source.finished)

    chunks = await take(source, 50, seen)

    assert len(chunks) == 50
    assert times == pytest.approx([(k + 1) * 0.02 + 0.003 for k in range(50)])
    assert clock.sleeps[0] == pytest.approx(0.02)
    assert clock.sleeps[1:50] == pytest.approx([0.017] * 49)  # late wake-ups are not added up
    assert np.array_equal(np.concatenate(chunks[:4]),
                          np.concatenate((pcm, np.zeros(380, np.int16))))
    assert all(len(c) == BLOCK and c.dtype == np.int16 for c in chunks)
    assert not np.concatenate(chunks[4:]).any()
    assert finished[:4] == [False, False, False, True] and all(finished[3:])
    assert source.done.is_set()


async def test_wav_source_catches_up_after_a_stalled_consumer(tmp_path):
    clock = FakeClock()
    source = WavSource(write_wav(tmp_path / "in.wav", tone(20 * BLOCK)),
                       clock=clock, sleep=clock.sleep)
    sleeps_seen = []

    def stall_after_first(index: int) -> None:
        sleeps_seen.append(len(clock.sleeps))
        if index == 0:
            clock.now += 0.1  # the consumer was busy for five blocks

    chunks = await take(source, 8, stall_after_first)

    assert len(chunks) == 8
    assert sleeps_seen == [1, 1, 1, 1, 1, 1, 2, 3]
    assert np.array_equal(np.concatenate(chunks), tone(20 * BLOCK)[:8 * BLOCK])


async def test_wav_source_unpaced_then_paced_silence(tmp_path):
    pcm = tone(3 * BLOCK)
    clock = FakeClock()
    source = WavSource(write_wav(tmp_path / "in.wav", pcm), realtime=False,
                       clock=clock, sleep=clock.sleep)
    state = []
    chunks = await take(source, 5, lambda i: state.append((len(clock.sleeps), source.finished)))

    assert state == [(0, False), (0, False), (0, True), (1, True), (2, True)]
    assert clock.sleeps[:2] == pytest.approx([0.02, 0.02])
    assert np.array_equal(np.concatenate(chunks[:3]), pcm)
    assert not np.concatenate(chunks[3:]).any()


async def test_muted_wav_source_yields_silence_while_the_file_runs_on(tmp_path):
    pcm = tone(4 * BLOCK)
    source = WavSource(write_wav(tmp_path / "in.wav", pcm), realtime=False)
    source.muted = True

    def unmute_after_second(index: int) -> None:
        source.muted = index < 1

    chunks = await take(source, 4, unmute_after_second)

    assert not chunks[0].any() and not chunks[1].any()
    assert np.array_equal(np.concatenate(chunks[2:]), pcm[2 * BLOCK:])


async def test_wav_source_resamples_a_48_khz_file(tmp_path):
    pcm48 = tone(9600, freq=1000, rate=48000, amp=10000)  # 200 ms
    source = WavSource(write_wav(tmp_path / "in48.wav", pcm48, 48000), realtime=False)
    chunks = await take(source, 11)

    assert source.finished
    audio = np.concatenate(chunks[:10])  # 200 ms at 24 kHz
    assert chunks[9].any() and not chunks[10].any()
    # 24 kHz sample k is 48 kHz sample 2k; away from the abrupt ends it is the ideal sine.
    ideal = sine_at((2 * np.arange(4800) + 0.5) / 48000, 1000, 10000)
    assert np.abs(audio - ideal)[100:-100].max() < 2


async def test_wav_source_done_event_is_set_when_the_file_was_yielded(tmp_path):
    source = WavSource(write_wav(tmp_path / "in.wav", tone(2 * BLOCK)), realtime=False)
    consumer = asyncio.create_task(take(source, 1000))
    await asyncio.wait_for(source.done.wait(), 5)
    source.close()
    chunks = await asyncio.wait_for(consumer, 5)
    assert np.array_equal(np.concatenate(chunks[:2]), tone(2 * BLOCK))


# -- WavSink and NullSink -------------------------------------------------------------


def read_back(path: Path) -> np.ndarray:
    pcm, rate = codec.read_wav(path)
    assert rate == RATE
    return pcm


def test_wav_sink_instant_writes_everything_played(tmp_path):
    a, b = tone(1000), tone(700, freq=900)
    sink = WavSink(tmp_path / "out.wav", realtime=False)
    sink.play("item_a", 0, a)
    sink.play("item_b", 0, b[:300])
    sink.play("item_b", 0, b[300:])

    assert (sink.played_samples("item_a", 0), sink.played_samples("item_b", 0)) == (1000, 700)
    assert not sink.is_playing
    with wave.open(str(tmp_path / "out.wav")) as partial:  # valid before close()
        assert partial.getnframes() == 1700
    sink.close()
    sink.close()
    assert np.array_equal(read_back(tmp_path / "out.wav"), np.concatenate((a, b)))


def test_wav_sink_realtime_accounts_exactly_through_a_clear(tmp_path):
    a, b = tone(RATE), tone(1000, freq=600)
    clock = FakeClock()
    sink = WavSink(tmp_path / "out.wav", clock=clock, sleep=clock.sleep)
    sink.play("item_a", 0, a)
    clock.now = 0.1  # five 20 ms blocks
    assert sink.played_samples("item_a", 0) == 2400
    assert sink.is_playing

    assert sink.clear() == {("item_a", 0): 2400}
    clock.now = 0.2
    assert not sink.is_playing
    assert sink.played_samples("item_a", 0) == 2400

    sink.play("item_b", 0, b)  # below the prebuffer: waits three blocks, then plays
    clock.now = 0.3
    assert sink.played_samples("item_b", 0) == 960
    sink.close()
    assert sink.played_samples("item_b", 0) == 1000
    assert np.array_equal(read_back(tmp_path / "out.wav"), np.concatenate((a[:2400], b)))


async def test_wav_sink_drain_waits_for_the_clock(tmp_path):
    clock = FakeClock()
    sink = WavSink(tmp_path / "out.wav", clock=clock, sleep=clock.sleep)
    sink.play("item_a", 0, tone(2400))
    await asyncio.wait_for(sink.drain(), 5)
    assert clock.now == pytest.approx(0.1)
    assert sink.played_samples("item_a", 0) == 2400
    sink.close()
    assert np.array_equal(read_back(tmp_path / "out.wav"), tone(2400))


def test_wav_sink_close_plays_out_the_queue(tmp_path):
    clock = FakeClock()
    sink = WavSink(tmp_path / "out.wav", clock=clock, sleep=clock.sleep)
    sink.play("item_a", 0, tone(5000))
    sink.close()
    assert sink.played_samples("item_a", 0) == 5000
    assert np.array_equal(read_back(tmp_path / "out.wav"), tone(5000))


def test_wav_sink_writer_follows_the_clock_without_further_calls(tmp_path):
    clock = FakeClock()
    sink = WavSink(tmp_path / "out.wav", clock=clock, sleep=clock.sleep)
    pcm = tone(6 * RATE)
    sink.play("item_a", 0, pcm)
    clock.now = 1.0  # nobody calls the sink: only its writer thread can write
    grew = wait_for_size(tmp_path / "out.wav", 44 + 2 * RATE)
    with wave.open(str(tmp_path / "out.wav")) as w:  # the header counts what is there
        assert w.getnframes() == RATE
        assert np.array_equal(np.frombuffer(w.readframes(RATE), "<i2"), pcm[:RATE])
    assert grew == 44 + 2 * RATE  # not a block more than the clock allowed
    sink.close()
    assert np.array_equal(read_back(tmp_path / "out.wav"), pcm)


def wait_for_size(path: Path, size: int, limit_s: float = 30.0, proc=None) -> int:
    """Poll ``path`` until it holds ``size`` bytes; return the size seen."""
    deadline = time.monotonic() + limit_s
    while (seen := path.stat().st_size) < size:
        assert proc is None or proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, f"{path} stayed at {seen} bytes, expected {size}"
        time.sleep(0.01)
    return seen


WAV_SINK_CHILD = """
    import sys
    import numpy as np
    from rtproto.audio import WavSink

    sink = WavSink(sys.argv[1])
    sink.play("item_a", 0, np.load(sys.argv[2]))
    print("playing", flush=True)
    sys.stdin.read()  # no more calls until the parent kills us
"""


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_wav_sink_file_survives_a_kill_mid_answer(tmp_path, signum):
    pcm = tone(6 * RATE)
    np.save(tmp_path / "answer.npy", pcm)
    out = tmp_path / "out.wav"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WAV_SINK_CHILD), str(out),
                              str(tmp_path / "answer.npy")], env=child_env(tmp_path),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == "playing\n", child.stderr.read()
        seen = wait_for_size(out, 44 + 2 * 2 * RATE, proc=child)  # two seconds played
        child.send_signal(signum)
        assert child.wait(timeout=30) == -signum
    finally:
        child.kill()
        child.communicate()
    with wave.open(str(out)) as w:  # valid as the kill left it, with no repair
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        kept = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert (seen - 44) // 2 - RATE // 4 <= len(kept) < len(pcm)  # the header lags one write at most
    assert np.array_equal(kept, pcm[:len(kept)])
    repaired, _ = codec.read_wav(out)
    assert len(repaired) == (out.stat().st_size - 44) // 2 >= len(kept)
    assert np.array_equal(repaired, pcm[:len(repaired)])


EXIT_CHILD = """
    import shutil, sys
    import numpy as np
    from rtproto.audio import WavSink

    sink = WavSink(sys.argv[1] + "/out.wav")
    sink.play("item_a", 0, np.ones(48000, np.int16))
    if sys.argv[2] == "vanish":
        shutil.rmtree(sys.argv[1])
        sink.close()
        sink.close()
"""


@pytest.mark.parametrize("how", ["exit without close", "vanish"])
def test_wav_sink_is_quiet_at_exit_and_when_its_directory_vanished(tmp_path, how):
    (tmp_path / "out").mkdir()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(EXIT_CHILD), str(tmp_path / "out"),
                           how], env=child_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_null_sink_counts_audio_as_played_on_arrival():
    sink = NullSink()
    sink.play("item_a", 0, tone(1234))
    assert not sink.is_playing
    assert sink.clear() == {("item_a", 0): 1234}


# -- PortAudio ------------------------------------------------------------------------

requires_portaudio = pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="libportaudio2 is not installed (apt-get install libportaudio2); "
           "the real-device tests need it",
)

ASOUNDRC = """\
pcm.!default {{
  type asym
  playback.pcm {{ type file  slave.pcm "null"  file "{speaker}"  format "raw" }}
  capture.pcm  {{ type file  slave.pcm "null"  file "/dev/null"  infile "{mic}"  format "raw" }}
}}
"""


def child_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_child(script: str, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def alsa_files(tmp_path):
    """A HOME whose .asoundrc makes speaker.raw and mic.raw the default ALSA device."""
    speaker, mic = tmp_path / "speaker.raw", tmp_path / "mic.raw"
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(speaker=speaker, mic=mic))
    mic.write_bytes(b"")
    return speaker, mic, child_env(tmp_path)


def first_loud(pcm: np.ndarray) -> int:
    return int(np.flatnonzero(np.abs(pcm) > 1000)[0])


def assert_recorded(raw: np.ndarray, *pieces: np.ndarray) -> None:
    """``raw`` holds the pieces in order, each after silence (maybe none), then silence."""
    position = 0
    for piece in pieces:
        position += int(np.flatnonzero(raw[position:])[0])
        assert np.array_equal(raw[position:position + len(piece)], piece)
        position += len(piece)
    assert not raw[position:].any()


SPEAKER_CHILD = """
    import asyncio, json, sys
    import numpy as np
    from rtproto.audio import Speaker

    async def main():
        first, second = np.load(sys.argv[1]), np.load(sys.argv[2])
        speaker = Speaker(device_rate=int(sys.argv[3]) or None)
        for piece in np.array_split(first, 3):
            speaker.play("item_a", 0, piece)
        if sys.argv[4] == "interrupt":
            await asyncio.sleep(0.002)
            cleared = speaker.clear()
        else:
            await asyncio.wait_for(speaker.drain(), 10)
            cleared = {}
        speaker.play("item_b", 0, second)
        await asyncio.wait_for(speaker.drain(), 10)
        played = [speaker.played_samples("item_a", 0), speaker.played_samples("item_b", 0)]
        speaker.close()
        print(json.dumps({"played": played, "cleared": [[*k, v] for k, v in cleared.items()],
                          "device_rate": speaker.device_rate}))

    asyncio.run(main())
"""


def play_on_device(tmp_path, alsa_files, first, second, device_rate=0, mode="drain"):
    speaker_raw, _, env = alsa_files
    np.save(tmp_path / "first.npy", first)
    np.save(tmp_path / "second.npy", second)
    report = json.loads(run_child(SPEAKER_CHILD, env, str(tmp_path / "first.npy"),
                                  str(tmp_path / "second.npy"), str(device_rate), mode))
    return report, np.fromfile(speaker_raw, dtype=np.int16)


@requires_portaudio
def test_speaker_plays_through_portaudio(tmp_path, alsa_files):
    first, second = tone(12000), tone(2000, freq=1000)
    report, raw = play_on_device(tmp_path, alsa_files, first, second)

    assert report["played"] == [12000, 2000]
    assert report["device_rate"] == RATE
    assert_recorded(raw, first, second)


@requires_portaudio
def test_speaker_clear_reports_what_the_device_got(tmp_path, alsa_files):
    first, second = tone(60 * RATE), tone(2000, freq=1000)  # long: likely cut by clear()
    report, raw = play_on_device(tmp_path, alsa_files, first, second, mode="interrupt")

    played_a, played_b = report["played"]
    assert report["cleared"] == [["item_a", 0, played_a]]
    assert 0 <= played_a <= len(first) and played_b == 2000
    assert_recorded(raw, *([first[:played_a]] if played_a else []), second)


@requires_portaudio
def test_speaker_resamples_for_a_48_khz_device_and_counts_session_samples(tmp_path, alsa_files):
    first, second = tone(12000, freq=440), tone(2400, freq=1000)
    report, raw = play_on_device(tmp_path, alsa_files, first, second, device_rate=48000)

    assert report["device_rate"] == 48000
    assert report["played"] == [12000, 2400]  # session-rate samples
    position = 0
    for piece in (first, second):
        expected = codec.resample(piece, RATE, 48000)
        position += first_loud(raw[position:]) - first_loud(expected)
        assert np.abs(raw[position:position + len(expected)] - expected).max() <= 2
        position += len(expected)


MIC_CHILD = """
    import asyncio, json, sys
    import numpy as np
    from rtproto.audio import Microphone

    async def main():
        mic = Microphone(queue_chunks=8, device_rate=int(sys.argv[2]) or None)
        chunks = []
        async for chunk in mic.chunks():
            chunks.append(chunk)
            mic.muted = len(chunks) >= 20
            if len(chunks) == 30:
                break
        mic.close()
        np.save(sys.argv[1], np.stack(chunks))
        print(json.dumps({"dropped": mic.dropped, "device_rate": mic.device_rate}))

    asyncio.run(asyncio.wait_for(main(), 30))
"""


def record_on_device(tmp_path, alsa_files, mic_samples, device_rate=0):
    _, mic_raw, env = alsa_files
    mic_samples.astype("<i2").tofile(mic_raw)
    report = json.loads(run_child(MIC_CHILD, env, str(tmp_path / "chunks.npy"), str(device_rate)))
    return report, np.load(tmp_path / "chunks.npy")


@requires_portaudio
def test_microphone_reads_the_device_in_20_ms_chunks(tmp_path, alsa_files):
    # One 480-sample pattern repeated: whichever blocks the unclocked device makes the
    # queue drop, every chunk must be the pattern, aligned, until the mute.
    pattern = (np.arange(BLOCK) * 53 - 12000).astype(np.int16)
    report, chunks = record_on_device(tmp_path, alsa_files, np.tile(pattern, 12))

    assert report["device_rate"] == RATE
    assert chunks.shape == (30, BLOCK) and chunks.dtype == np.int16
    assert all(np.array_equal(chunk, pattern) for chunk in chunks[:20])
    assert not chunks[20:].any()


@requires_portaudio
def test_microphone_resamples_a_48_khz_device(tmp_path, alsa_files):
    period = tone(960, freq=250, rate=48000, amp=10000)  # five whole cycles per 20 ms
    report, chunks = record_on_device(tmp_path, alsa_files, np.tile(period, 12), 48000)

    assert report["device_rate"] == 48000
    assert chunks.shape == (30, BLOCK)
    # Every device block is one whole period, so even across dropped blocks the stream
    # stays the same sine; 24 kHz sample j of a chunk is 48 kHz sample 2j of its block.
    ideal = sine_at((2 * np.arange(BLOCK) + 0.5) / 48000, 250, 10000)
    assert all(np.abs(chunk - ideal).max() < 2 for chunk in chunks[2:20])
    assert not chunks[20:].any()


@requires_portaudio
def test_device_errors_name_the_device_and_the_fix(alsa_files):
    _, _, env = alsa_files
    out = run_child("""
        from rtproto import audio
        from rtproto.errors import AudioDeviceError
        print(audio.list_devices())
        try:
            audio.Microphone(device="no-such-device")
        except AudioDeviceError as exc:
            print("ERROR", exc)
    """, env)
    assert "default" in out
    error = out.split("ERROR ", 1)[1]
    assert "'no-such-device'" in error and "--input FILE.wav" in error


@requires_portaudio
def test_no_default_input_device_names_the_fix(tmp_path):
    out = run_child("""
        import sounddevice
        from rtproto import audio
        from rtproto.errors import AudioDeviceError
        if any(d["max_input_channels"] for d in sounddevice.query_devices()):
            print("HAS_INPUT")
        else:
            try:
                audio.Microphone()
            except AudioDeviceError as exc:
                print("ERROR", exc)
    """, child_env(tmp_path))
    if "HAS_INPUT" in out:
        pytest.skip("this machine has an input device, so 'no input device' cannot be shown")
    assert out.startswith("ERROR no input device:")
    assert "--input FILE.wav" in out


@pytest.mark.skipif(sys.platform != "linux", reason="simulates a missing libportaudio the "
                    "way sounddevice looks for it on Linux")
def test_missing_portaudio_names_the_fix(tmp_path):
    out = run_child("""
        import ctypes.util, sys
        ctypes.util.find_library = lambda name: None  # as on a machine without libportaudio2
        from rtproto import audio
        from rtproto.errors import AudioDeviceError
        print("imported", "sounddevice" in sys.modules)
        for open_device in (audio.Microphone, audio.Speaker, audio.list_devices):
            try:
                open_device()
            except AudioDeviceError as exc:
                print("ERROR", exc)
    """, child_env(tmp_path))
    lines = out.splitlines()
    assert lines[0] == "imported False"
    assert lines[1:] == ["ERROR " + (
        "PortAudio was not found: install it (Debian/Ubuntu: apt-get install libportaudio2; "
        "macOS: brew install portaudio) or use --input FILE.wav / --output FILE.wav")] * 3
