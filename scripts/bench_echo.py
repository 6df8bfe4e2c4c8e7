"""Echo cancellation, measured offline: a matrix of synthetic echo paths, and the output latency.

Usage: ``python scripts/bench_echo.py [--quick] [--markdown] [--no-latency]``

Signals (``tests/fixtures/echo``, 16 kHz, made with espeak-ng 1.51, run at 24 kHz):
far end ``far.wav`` (9.4 s, en-us male, the assistant), near end ``near.wav`` (2.9 s,
en-us female, pitch 70, the user). Each case plays the far end through a synthetic room
(exponentially decaying noise with a direct path, RT60 0.2/0.4/0.6 s), a delay (10-200 ms)
and an echo gain (quiet -26 dB, medium -14 dB, loud -4 dB, the loud echo louder than the
user), with or without background noise (white, -55 dBFS); in the double-talk cases the
user starts speaking 5 s into the answer at about -26 dBFS.

Three ways out of the microphone, side by side: ``aec`` (``rtproto.echo.EchoCanceller`` at
24 kHz, fed in 10 ms lockstep), ``half`` (half-duplex: muted while the answer plays) and
``none`` (the microphone as it is). Per case and overall:

* ERLE (dB) on the echo-only stretches after 1 s: 10 log10(mic energy / output energy);
* false barge-ins: how often a detector like the server's ``server_vad`` fires on the
  echo-only stretches (the whole answer but the user's turn); the detector: 10 ms frames,
  a frame is speech above -40 dBFS, it fires when 60 % of the last 200 ms is speech, and
  re-arms after 500 ms without speech (``silence_duration_ms``);
* near end kept (double talk): the user's level in the output against the clean voice
  (dB), the correlation of their spectrograms, and the time from the user's onset to the
  detector firing.

Targets: ERLE >= 30 dB median, no false barge-in in any case, the user detected within
300 ms of their onset in every double-talk case, their level within 3 dB.

The latency part runs the real transport and driver against the local server, which sends
100 ms audio deltas in real time; a thread on the clock is the output device (20 ms blocks),
calling the same callback PortAudio would. Latency: from a delta's arrival on the socket to
its first sample leaving the callback, p50/p99, with the microphone's audio going through
the echo canceller on the event loop (``aec``) and through unchanged (``off``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtproto import codec
from rtproto.echo import EchoCanceller

RATE = 24000
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "echo"
ONSET_S = 5.0  # the user starts this far into the answer
GAINS = {"quiet": 0.05, "medium": 0.2, "loud": 0.6}
NOISE_DBFS = -55.0
VOICED_DBFS = -40.0
FRAME = RATE // 100


def voice(name: str) -> np.ndarray:
    pcm, rate = codec.read_wav(FIXTURES / f"{name}.wav")
    return codec.resample(pcm, rate, RATE).astype(np.float64)


def room(rt60: float, seed: int, drr_db: float) -> np.ndarray:
    """An exponentially decaying tail (-60 dB at rt60) behind a direct path ``drr_db`` louder, unit energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, int(rt60 * RATE)) / RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    tail *= 10 ** (-drr_db / 20) / np.sqrt(np.sum(tail ** 2))
    h = np.concatenate(([1.0], tail))
    return h / np.sqrt(np.sum(h ** 2))


@dataclass(frozen=True)
class Case:
    rt60: float
    delay_ms: int
    gain: str
    noise: bool
    double_talk: bool

    @property
    def label(self) -> str:
        return (f"{self.rt60:.1f} s | {self.delay_ms} ms | {self.gain} | {'noise' if self.noise else 'quiet'} | "
                f"{'double talk' if self.double_talk else 'echo only'}")


@dataclass
class Scene:
    far: np.ndarray  # what the speaker played (int16)
    mic: np.ndarray  # what the microphone captured (int16)
    near: np.ndarray  # the user's clean voice as the microphone got it (float)
    near_span: tuple[int, int] | None  # samples of the user's turn


def scene(case: Case, far: np.ndarray, near: np.ndarray, seed: int, drr_db: float) -> Scene:
    delay = codec.ms_to_samples(case.delay_ms, RATE)
    echo = np.convolve(far, room(case.rt60, seed, drr_db))[: len(far)] * GAINS[case.gain]
    echo = np.concatenate((np.zeros(delay), echo))[: len(far)]
    user = np.zeros(len(far))
    span = None
    if case.double_talk:
        start = int(ONSET_S * RATE)
        user[start:start + len(near)] = near[: len(far) - start]
        span = (start, min(len(far), start + len(near)))
    noise = np.random.default_rng(seed + 1).standard_normal(len(far)) * 32768 * 10 ** (NOISE_DBFS / 20)
    mic = echo + user + (noise if case.noise else 0)
    return Scene(codec.float_to_pcm16(far / 32768), codec.float_to_pcm16(mic / 32768), user, span)


# -- the three outputs -------------------------------------------------------------------


def run_aec(s: Scene) -> np.ndarray:
    return EchoCanceller(RATE).process(s.mic[: len(s.mic) - len(s.mic) % FRAME], s.far[: len(s.mic) - len(s.mic) % FRAME])


def run_half(s: Scene) -> np.ndarray:
    return np.zeros_like(s.mic)  # the answer plays from the first sample to the last


# -- measures ----------------------------------------------------------------------------


def frame_db(pcm: np.ndarray) -> np.ndarray:
    frames = pcm[: len(pcm) - len(pcm) % FRAME].astype(np.float64).reshape(-1, FRAME) / 32768
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def detections(pcm: np.ndarray) -> list[int]:
    """Frames at which the server_vad-like detector fires speech_started (see the module docstring)."""
    voiced = frame_db(pcm) >= VOICED_DBFS
    fired, armed, quiet = [], True, 0
    for i in range(len(voiced)):
        window = voiced[max(0, i - 19): i + 1]
        quiet = 0 if voiced[i] else quiet + 1
        if armed and window.sum() >= 12:
            first = max(0, i - 19) + int(np.flatnonzero(window)[0])
            fired.append(first)  # speech_started names where the speech began
            armed = False
        elif not armed and quiet >= 50:
            armed = True
    return fired


def echo_only(s: Scene, n: int) -> np.ndarray:
    """A mask of the echo-only samples (outside the user's turn, and 500 ms after it)."""
    mask = np.ones(n, bool)
    if s.near_span:
        mask[s.near_span[0]: s.near_span[1] + RATE // 2] = False
    return mask


def erle(s: Scene, out: np.ndarray) -> float:
    mask = echo_only(s, len(out))
    mask[:RATE] = False  # one second to converge
    mic, res = s.mic[: len(out)][mask].astype(np.float64), out[mask].astype(np.float64)
    return float(10 * np.log10(np.sum(mic ** 2) / max(np.sum(res ** 2), 1.0)))


def false_barge_ins(s: Scene, out: np.ndarray, after: int = 0) -> int:
    mask = echo_only(s, len(out))
    mask[:after] = False
    return sum(1 for f in detections(out) if mask[f * FRAME])


def detect_ms(s: Scene, out: np.ndarray) -> float | None:
    """From the user's onset to the detector's first firing in their turn (None: never)."""
    start, end = s.near_span
    onset = start + int(np.flatnonzero(np.abs(s.near[start:end]) > 300)[0])
    hits = [f * FRAME for f in detections(out) if onset - RATE // 10 <= f * FRAME < end]
    return None if not hits else max(0.0, (hits[0] - onset) * 1000 / RATE)


def near_kept(s: Scene, out: np.ndarray) -> tuple[float, float]:
    """(level of the output against the clean voice in dB, spectrogram correlation) over the user's turn."""
    start, end = s.near_span
    near, got = s.near[start:end], out[start:end].astype(np.float64)
    active = frame_db(codec.float_to_pcm16(near / 32768)) >= VOICED_DBFS
    level = lambda x: 10 * np.log10(np.mean(x[: len(active) * FRAME].reshape(-1, FRAME)[active] ** 2))  # noqa: E731
    return float(level(got) - level(near)), spectral_correlation(near, got)


def spectral_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of 20 ms magnitude spectrograms, b shifted by up to 30 ms (the processor's delay)."""
    def spec(x: np.ndarray) -> np.ndarray:
        n = 480
        frames = x[: len(x) - len(x) % n].reshape(-1, n) * np.hanning(n)
        return np.log1p(np.abs(np.fft.rfft(frames, axis=1)))
    best = -1.0
    for shift in range(0, 721, 120):
        sa, sb = spec(a[: len(a) - shift]), spec(b[shift:])
        best = max(best, float(np.corrcoef(sa.ravel(), sb.ravel())[0, 1]))
    return best


# -- the matrix ----------------------------------------------------------------------------


def cases(quick: bool) -> list[Case]:
    rt60s, delays = ((0.2, 0.6), (10, 200)) if quick else ((0.2, 0.4, 0.6), (10, 50, 100, 200))
    gains = ("quiet", "loud") if quick else tuple(GAINS)
    return [Case(*c) for c in itertools.product(rt60s, delays, gains, (False, True), (False, True))]


def measure(case: Case, far: np.ndarray, near: np.ndarray, seed: int, drr_db: float) -> dict[str, Any]:
    s = scene(case, far, near, seed, drr_db)
    outs = {"aec": run_aec(s), "half": run_half(s), "none": s.mic}
    row: dict[str, Any] = {"case": case, "erle": {k: erle(s, v) for k, v in outs.items() if k != "half"},
                           "false": {k: false_barge_ins(s, v) for k, v in outs.items()},
                           "false_late": {k: false_barge_ins(s, v, after=RATE) for k, v in outs.items()}}
    if case.double_talk:
        row["detect"] = {k: detect_ms(s, v) for k, v in outs.items()}
        row["kept"] = {k: near_kept(s, v) for k, v in outs.items() if k != "half"}
    return row


def fmt_ms(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f}"


def print_matrix(rows: list[dict], markdown: bool) -> None:
    head = ["RT60 | delay | echo | noise | talk", "ERLE aec", "ERLE none", "false aec/half/none",
            "detect ms aec/half/none", "near dB aec", "near corr aec/none"]
    print(("| " + " | ".join(head) + " |") if markdown else "  ".join(head))
    if markdown:
        print("|" + "---|" * (len(head) + 4))
    for r in rows:
        cells = [r["case"].label, f"{r['erle']['aec']:.1f}", f"{r['erle']['none']:.1f}",
                 "/".join(str(r["false"][k]) for k in ("aec", "half", "none"))]
        if "detect" in r:
            cells += ["/".join(fmt_ms(r["detect"][k]) for k in ("aec", "half", "none")),
                      f"{r['kept']['aec'][0]:+.1f}", f"{r['kept']['aec'][1]:.2f}/{r['kept']['none'][1]:.2f}"]
        else:
            cells += ["", "", ""]
        print(("| " + " | ".join(cells) + " |") if markdown else "  ".join(cells))


def summary(rows: list[dict]) -> None:
    dt = [r for r in rows if "detect" in r]
    print(f"\n{len(rows)} cases ({len(dt)} with double talk)")
    for way in ("aec", "half", "none"):
        erles = [r["erle"][way] for r in rows] if way != "half" else []
        false_cases = sum(1 for r in rows if r["false"][way])
        false_late = sum(1 for r in rows if r["false_late"][way])
        detected = [r["detect"][way] for r in dt]
        in_time = sum(1 for d in detected if d is not None and d <= 300)
        found = sorted(d for d in detected if d is not None)
        line = f"{way:5}: "
        line += f"ERLE median {statistics.median(erles):.1f} dB (min {min(erles):.1f}); " if erles else "ERLE: muted; "
        line += f"cases with a false barge-in {false_cases}/{len(rows)} ({false_late} after the first second); "
        line += f"user detected within 300 ms {in_time}/{len(dt)}"
        if found:
            line += f" (median {statistics.median(found):.0f} ms, max {max(found):.0f} ms)"
        if way != "half":
            levels = [r["kept"][way][0] for r in dt]
            corrs = [r["kept"][way][1] for r in dt]
            line += (f"; user level {statistics.median(levels):+.1f} dB median ({min(levels):+.1f}..{max(levels):+.1f}), "
                     f"within 3 dB {sum(1 for v in levels if abs(v) <= 3)}/{len(dt)}; "
                     f"spectral corr median {statistics.median(corrs):.2f}")
        print(line)


# -- the output latency ------------------------------------------------------------------------


class Passthrough:
    """The microphone unchanged: the same plumbing as with AEC, without the canceller's work."""

    rate = RATE

    def process(self, mic: np.ndarray, speaker: np.ndarray) -> np.ndarray:
        return mic


def latency_script(answer: np.ndarray, delta_ms: int = 100) -> Any:
    from rtproto.testing import ScriptBuilder

    ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_1", "model": "gpt-realtime",
               "audio": {"output": {"format": {"type": "audio/pcm", "rate": RATE}}}}
    item = {"id": "item_1", "object": "realtime.item", "type": "message", "status": "in_progress",
            "role": "assistant", "content": []}
    b = (ScriptBuilder(model="gpt-realtime").server("session.created", session=session)
         .server("session.updated", session=session)
         .server("response.created", response={"object": "realtime.response", "id": "resp_1",
                                                "status": "in_progress", "output": []})
         .server("response.output_item.added", response_id="resp_1", output_index=0, item=item)
         .server("response.content_part.added", **ids, part={"type": "audio", "transcript": ""}))
    step = codec.ms_to_samples(delta_ms, RATE)
    for i in range(0, len(answer), step):
        b.server("response.output_audio.delta", **ids, delta=codec.pcm16_to_b64(answer[i:i + step]),
                 after_ms=delta_ms if i else 0)
    return b.server("response.output_audio.done", **ids).close(1000, after_ms=500)


class StampedLink:
    """The connection, with the arrival time of each audio delta noted before the driver sees it."""

    def __init__(self, conn: Any, arrivals: list[tuple[float, bytes]]):
        self._conn, self._arrivals = conn, arrivals

    async def send(self, frame: bytes) -> None:
        await self._conn.send(frame)

    async def deliver(self, handler: Any) -> None:
        def stamped(frame: Any) -> None:
            if b"response.output_audio.delta" in (frame if isinstance(frame, bytes) else frame.encode()):
                self._arrivals.append((time.perf_counter(), frame))
            handler(frame)
        await self._conn.deliver(stamped)

    async def close(self) -> None:
        await self._conn.close()


def clocked_device(duplex: Any, mic: np.ndarray, stop: threading.Event, leaves: list[tuple[float, int]]) -> None:
    """Calls the duplex callback every 20 ms on an absolute schedule, as a real device would."""
    block = duplex.block
    start = time.perf_counter()
    for k in itertools.count():
        if stop.is_set():
            return
        delay = start + k * block / RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        out = np.zeros((block, 1), np.int16)
        piece = mic[(k * block) % (len(mic) - block):][:block].reshape(-1, 1)
        duplex.callback(piece, out, block, None, None)
        leaves.append((time.perf_counter(), duplex.played_samples("item_1", 0)))


async def output_latency(canceller: Any, answer: np.ndarray, mic: np.ndarray) -> list[float]:
    import msgspec

    from rtproto.duplex import Duplex
    from rtproto.driver import Driver
    from rtproto.session import Session
    from rtproto.testing import serve_transcript
    from rtproto.transport import connect

    class Quiet:
        def show(self, notice: Any) -> None: ...
        def info(self, message: str) -> None: ...
        def warn(self, message: str) -> None: ...

    arrivals: list[tuple[float, bytes]] = []
    leaves: list[tuple[float, int]] = []
    duplex = Duplex(canceller, queue_chunks=50)
    stop = threading.Event()
    device = threading.Thread(target=clocked_device, args=(duplex, mic, stop, leaves), daemon=True)
    async with serve_transcript(latency_script(answer)) as server:
        async with connect(server.url + "?model=gpt-realtime") as conn:
            device.start()
            driver = Driver(StampedLink(conn, arrivals), Session(), duplex, Quiet(), source=duplex, headphones=True)
            try:
                await driver.run()
            except Exception:  # the server's close ends the conversation either way
                pass
    stop.set()
    device.join()
    latencies, offset = [], 0
    for arrived, frame in arrivals:
        size = len(codec.b64_to_pcm16(msgspec.json.decode(frame)["delta"]))
        left = next((t for t, played in leaves if played > offset), None)
        if left is not None:
            latencies.append((left - arrived) * 1000)
        offset += size
    return latencies


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def latency_report(seconds: float) -> None:
    answer = codec.float_to_pcm16(voice("far")[: int(seconds * RATE)] / 32768)
    mic = codec.float_to_pcm16(voice("near") / 32768)
    print(f"\noutput latency: delta arrival on the socket -> first sample out of the 20 ms callback, "
          f"{seconds:.0f} s answer in 100 ms deltas (target p99 <= 20 + 40 = 60 ms)")
    for name, canceller in (("off", Passthrough()), ("aec", EchoCanceller(RATE))):
        values = asyncio.run(output_latency(canceller, answer, mic))
        print(f"  {name}: n={len(values)} p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, "
              f"max {max(values):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 32-case subset (the full matrix has 144)")
    parser.add_argument("--markdown", action="store_true", help="print the matrix as a Markdown table")
    parser.add_argument("--no-latency", action="store_true", help="skip the output latency measurement")
    parser.add_argument("--drr", type=float, default=6.0, metavar="DB",
                        help="direct-to-reverberant ratio of the rooms (default 6 dB: a laptop's speaker "
                             "a few cm from its microphone)")
    args = parser.parse_args()
    far, near = voice("far"), voice("near") * 0.9
    started = time.perf_counter()
    rows = [measure(case, far, near, seed, args.drr) for seed, case in enumerate(cases(args.quick))]
    print_matrix(rows, args.markdown)
    summary(rows)
    print(f"(matrix: {time.perf_counter() - started:.0f} s)")
    if not args.no_latency:
        latency_report(6.0 if args.quick else 9.0)


if __name__ == "__main__":
    main()
