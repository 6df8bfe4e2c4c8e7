"""Echo cancellation: the --echo decision, the canceller, and the duplex plumbing that feeds it.

The duplex tests drive ``Duplex.callback`` the way PortAudio does (a captured block in,
a block to play out) from a simulated room, so every sample's way from the device to
the canceller and back out of ``chunks()`` is checked without a sound card; the real
device path is tested end to end through the CLI in test_echo_cli.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtproto import codec
from rtproto.duplex import Duplex, _DelayLine
from rtproto.echo import AEC_MISSING, EchoCanceller, choose_mode, describe

RATE = 24000
BLOCK = 480  # 20 ms at 24 kHz
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "echo"


def voice(name: str, rate: int = RATE) -> np.ndarray:
    pcm, file_rate = codec.read_wav(FIXTURES / f"{name}.wav")
    return codec.resample(pcm, file_rate, rate)


def room(rt60: float, rate: int = RATE, seed: int = 1) -> np.ndarray:
    """An exponentially decaying impulse response with a direct path, unit energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rt60 * rate)) / rate
    h = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    h[0] += 3.0
    return h / np.sqrt(np.sum(h ** 2))


def echo_of(played: np.ndarray, delay: int, gain: float = 0.5, rt60: float = 0.3, rate: int = RATE) -> np.ndarray:
    wet = np.convolve(played.astype(np.float64), room(rt60, rate))[: len(played)] * gain
    return np.concatenate((np.zeros(delay), wet))[: len(played)]


def level_db(pcm: np.ndarray) -> float:
    return 10 * np.log10(max(float(np.mean(pcm.astype(np.float64) ** 2)), 1e-9))


# -- choosing the mode -------------------------------------------------------------------


@pytest.mark.parametrize("requested, headphones, devices, available, mode", [
    ("auto", False, True, True, "aec"),
    ("auto", False, True, False, "half-duplex"),
    ("auto", True, True, True, "off"),
    ("auto", False, False, True, "off"),  # WAV files: nothing to guard
    ("aec", False, True, True, "aec"),
    ("half-duplex", False, True, True, "half-duplex"),
    ("off", False, True, False, "off"),
    ("off", True, True, True, "off"),
])
def test_choose_mode(requested, headphones, devices, available, mode):
    chosen, reason = choose_mode(requested, headphones=headphones, devices=devices, available=available)
    assert chosen == mode
    assert describe(chosen, reason).startswith(f"echo: {mode}: ")


def test_auto_says_why_it_fell_back_to_half_duplex():
    mode, reason = choose_mode("auto", headphones=False, devices=True, available=False)
    assert (mode, reason) == ("half-duplex", f"auto: {AEC_MISSING}")


@pytest.mark.parametrize("requested, headphones, available, message", [
    ("aec", False, False, "pip install 'rtproto[aec]'"),
    ("aec", True, True, "--headphones keeps the microphone open"),
    ("half-duplex", True, True, "--headphones keeps the microphone open"),
    ("loud", False, True, "--echo must be one of auto, aec, half-duplex, off"),
])
def test_choose_mode_refuses(requested, headphones, available, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        choose_mode(requested, headphones=headphones, devices=True, available=available)


BLOCKED = """
import sys
sys.modules["livekit"] = None  # as if the aec extra were not installed
from rtproto import echo
print(echo.aec_available())
try:
    echo.EchoCanceller(24000)
except ImportError as exc:
    print(exc)
"""


def test_without_the_extra_the_canceller_names_the_fix():
    proc = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False", AEC_MISSING]


# -- the canceller -------------------------------------------------------------------------


def erle_after(mic: np.ndarray, cleaned: np.ndarray, seconds: float = 1.0, rate: int = RATE) -> float:
    start = int(seconds * rate)
    return level_db(mic[start:]) - level_db(cleaned[start:])


@pytest.mark.parametrize("delay_ms", [10, 120, 200, 450])
def test_the_canceller_finds_the_echo_path_delay(delay_ms):
    far = voice("far")[: 5 * RATE]
    mic = codec.float_to_pcm16(echo_of(far, codec.ms_to_samples(delay_ms, RATE)) / 32768)
    cleaned = EchoCanceller(RATE).process(mic, far)
    assert erle_after(mic, cleaned, seconds=2.0) > 30


def test_a_reference_that_is_not_the_echo_cancels_nothing():
    far, other = voice("far")[: 5 * RATE], np.tile(voice("near"), 3)[: 5 * RATE]
    mic = codec.float_to_pcm16(echo_of(far, codec.ms_to_samples(120, RATE)) / 32768)
    cleaned = EchoCanceller(RATE).process(mic, other)
    assert erle_after(mic, cleaned) < 6


def test_frames_may_come_in_any_multiple_of_10_ms():
    far = voice("far")[: 2 * RATE]
    mic = codec.float_to_pcm16(echo_of(far, 1200) / 32768)
    whole = EchoCanceller(RATE).process(mic, far)
    canceller = EchoCanceller(RATE)
    edges = np.cumsum([0] + [240, 480, 720] * 33)  # 47520 samples: 240 + 480 + 720 per step
    pieces = [canceller.process(mic[a:b], far[a:b]) for a, b in zip(edges, edges[1:])]
    assert np.array_equal(np.concatenate(pieces), whole[: edges[-1]])


@pytest.mark.parametrize("rate", [16000, 48000])
def test_the_canceller_runs_at_16_and_48_khz(rate):
    far = voice("far", rate)[: 5 * rate]
    mic = codec.float_to_pcm16(echo_of(far, rate // 10, rate=rate) / 32768)
    assert erle_after(mic, EchoCanceller(rate).process(mic, far), seconds=2.0, rate=rate) > 30


@pytest.mark.parametrize("mic, speaker, message", [
    (np.zeros(240, np.int16), np.zeros(480, np.int16), "equal whole 10 ms frames"),
    (np.zeros(100, np.int16), np.zeros(100, np.int16), "equal whole 10 ms frames"),
    (np.zeros(240, np.float32), np.zeros(240, np.int16), "mic must be a 1-D int16"),
])
def test_process_refuses_frames_out_of_step(mic, speaker, message):
    with pytest.raises(ValueError, match=message):
        EchoCanceller(RATE).process(mic, speaker)


def test_unsupported_rate_is_refused():
    with pytest.raises(ValueError, match="16000, 24000, 48000"):
        EchoCanceller(22050)


# -- the duplex plumbing ------------------------------------------------------------------


class Recorder:
    """A canceller that returns the microphone as it is and keeps everything it was given."""

    rate = RATE

    def __init__(self):
        self.mic: list[np.ndarray] = []
        self.speaker: list[np.ndarray] = []

    def process(self, mic: np.ndarray, speaker: np.ndarray) -> np.ndarray:
        assert len(mic) == len(speaker) and len(mic) % 240 == 0
        self.mic.append(mic.copy())
        self.speaker.append(speaker.copy())
        return mic.copy()


def drive(duplex: Duplex, captured: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Be the device: hand ``captured`` to the callback in blocks of ``sizes``; return what it played."""
    played, position = [], 0
    for size in sizes:
        indata = captured[position:position + size].reshape(-1, 1)
        outdata = np.full((size, 1), 12345, np.int16)  # garbage the callback must overwrite
        duplex.callback(indata, outdata, size, None, None)
        played.append(outdata[:, 0].copy())
        position += size
    return np.concatenate(played)


async def cleaned_chunks(duplex: Duplex) -> list[np.ndarray]:
    duplex.close()  # the queued pairs are still delivered, then chunks() ends
    return [chunk async for chunk in duplex.chunks()]


def test_the_delay_line_holds_back_every_sample_exactly_once():
    rng = np.random.default_rng(3)
    line = _DelayLine(1000)
    played = np.arange(1, 20001, dtype=np.int16)
    out, position = [], 0
    for size in rng.integers(1, 1500, 40):
        out.append(line.push(played[position:position + size]))
        position += size
    heard = np.concatenate(out)
    assert np.array_equal(heard, np.concatenate((np.zeros(1000, np.int16), played))[: len(heard)])


async def test_duplex_pairs_each_captured_sample_with_what_was_played_lag_earlier():
    rng = np.random.default_rng(5)
    sizes = [int(n) for n in rng.integers(50, 1300, 40)]
    total = sum(sizes)
    captured = rng.integers(-20000, 20000, total).astype(np.int16)
    answer = rng.integers(-20000, 20000, total // 2).astype(np.int16)
    recorder = Recorder()
    duplex = Duplex(recorder, queue_chunks=len(sizes), lag=1500)
    duplex.play("item_A", 0, answer)
    played = drive(duplex, captured, sizes)
    chunks = await cleaned_chunks(duplex)

    assert duplex.dropped == 0
    assert np.array_equal(played[: len(answer)], answer) and not played[len(answer):].any()
    mic, speaker = np.concatenate(recorder.mic), np.concatenate(recorder.speaker)
    assert len(mic) == total - total % 240  # only the last partial 10 ms frame waits
    assert np.array_equal(mic, captured[: len(mic)])
    assert np.array_equal(speaker, np.concatenate((np.zeros(1500, np.int16), played))[: len(mic)])
    out = np.concatenate(chunks)
    assert all(len(chunk) == BLOCK for chunk in chunks)
    assert len(out) == len(mic) - len(mic) % BLOCK and np.array_equal(out, mic[: len(out)])


async def test_a_48_khz_duplex_device_feeds_the_canceller_both_streams_resampled_in_step():
    rng = np.random.default_rng(6)
    sizes = [960] * 30
    captured = codec.float_to_pcm16(np.sin(np.arange(sum(sizes)) * 0.05) * 0.5)
    answer = codec.float_to_pcm16(rng.uniform(-0.4, 0.4, 12000))
    recorder = Recorder()
    duplex = Duplex(recorder, queue_chunks=30, device_rate=48000, lag=960)
    duplex.play("item_A", 0, answer)
    played = drive(duplex, captured, sizes)
    await cleaned_chunks(duplex)

    mic, speaker = np.concatenate(recorder.mic), np.concatenate(recorder.speaker)
    heard = np.concatenate((np.zeros(960, np.int16), played))[: len(played)]
    assert len(mic) == len(speaker) >= len(played) // 2 - 240
    assert np.abs(mic - codec.resample(captured, 48000, RATE)[: len(mic)]).max() <= 1
    assert np.abs(speaker - codec.resample(heard, 48000, RATE)[: len(speaker)]).max() <= 1
    assert duplex.played_samples("item_A", 0) == len(answer)  # counted in session-rate samples


async def test_a_dropped_capture_goes_with_its_reference():
    # Each captured sample is its own index; each played sample its index + 1: a pair is in
    # step when reference == captured - lag + 1, whichever pairs the full queue dropped.
    lag, sizes = 2400, [BLOCK] * 60
    duplex = Duplex(recorder := Recorder(), queue_chunks=4, lag=lag)
    duplex.play("item_A", 0, np.arange(1, 30001, dtype=np.int16))
    drive(duplex, np.arange(sum(sizes), dtype=np.int16), sizes)
    chunks = await cleaned_chunks(duplex)

    assert duplex.dropped == 56 and len(chunks) == 4
    mic, speaker = np.concatenate(recorder.mic), np.concatenate(recorder.speaker)
    assert np.array_equal(mic, np.arange(56 * BLOCK, 60 * BLOCK))
    assert np.array_equal(speaker, np.where(mic >= lag, mic - lag + 1, 0))


async def test_a_muted_duplex_yields_silence_and_keeps_the_timeline():
    duplex = Duplex(Recorder(), queue_chunks=10)
    drive(duplex, np.full(10 * BLOCK, 999, np.int16), [BLOCK] * 10)
    duplex.muted = True
    chunks = await cleaned_chunks(duplex)
    assert len(chunks) == 10 and not np.concatenate(chunks).any()


def simulated_room(duplex: Duplex, far: np.ndarray, device_lag: int, near: np.ndarray | None = None) -> np.ndarray:
    """A duplex device in a room: the capture of each block hears what was played
    ``device_lag`` samples earlier, through a 0.3 s room; returns the captured audio."""
    blocks = len(far) // BLOCK
    captured = np.zeros(blocks * BLOCK)
    played = np.zeros(blocks * BLOCK)
    h = room(0.3)
    for k in range(blocks):
        start = k * BLOCK
        source = played[max(0, start - device_lag - len(h)): max(0, start + BLOCK - device_lag)]
        wet = np.convolve(source, h)[len(source) - BLOCK:len(source)] if len(source) else np.zeros(BLOCK)
        mic = codec.float_to_pcm16((0.5 * wet + (near[start:start + BLOCK] if near is not None else 0)) / 32768)
        captured[start:start + BLOCK] = mic
        out = np.zeros((BLOCK, 1), np.int16)
        duplex.callback(mic.reshape(-1, 1), out, BLOCK, None, None)
        played[start:start + BLOCK] = out[:, 0]
    return captured


@pytest.mark.parametrize("compensated, expected", [(True, "cancelled"), (False, "left")])
async def test_the_device_lag_is_taken_out_before_the_canceller(compensated, expected):
    # 800 ms of device latency is beyond what AEC3 finds by itself (about 500 ms): the echo is
    # cancelled only because the delay line pairs each capture with what was played 800 ms before.
    device_lag = codec.ms_to_samples(800, RATE)
    far = voice("far")[: 7 * RATE]
    duplex = Duplex(EchoCanceller(RATE), queue_chunks=1000, lag=device_lag if compensated else 0)
    duplex.play("item_A", 0, far)
    captured = simulated_room(duplex, far, device_lag)
    cleaned = np.concatenate(await cleaned_chunks(duplex))
    erle = erle_after(captured[: len(cleaned)], cleaned, seconds=3.0)  # the echo starts at 0.8 s
    assert (erle > 30) if expected == "cancelled" else (erle < 10)
