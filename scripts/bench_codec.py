"""Time the hot paths of rtproto.codec and print a table.

    python scripts/bench_codec.py

Rows: base64 <-> PCM16 for 20/100/500 ms of 24 kHz audio, and resampling
48k -> 24k and 24k -> 48k of one second of audio, one-shot and streamed in
20 ms chunks. Times are the best of several runs. MB/s counts PCM16 bytes
(input side for the resampler); "x real-time" is audio duration / time.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtproto.codec import Resampler, b64_to_pcm16, pcm16_to_b64, resample  # noqa: E402


def best_seconds(call, repeat: int = 7) -> float:
    """Best per-call time over ``repeat`` runs of an auto-sized loop."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number


def row(name: str, seconds: float, pcm_bytes: int, audio_s: float) -> str:
    return f"{name:<34} {seconds * 1e6:>11.1f} {pcm_bytes / seconds / 1e6:>9.0f} {audio_s / seconds:>12.0f}"


def streamed(x: np.ndarray, src: int, dst: int, chunk: int) -> None:
    resampler = Resampler(src, dst)
    for i in range(0, len(x), chunk):
        resampler.process(x[i : i + chunk])
    resampler.flush()


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"{'operation':<34} {'us/call':>11} {'MB/s':>9} {'x real-time':>12}")
    for ms in (20, 100, 500):
        pcm = (rng.standard_normal(24 * ms) * 3000).astype(np.int16)
        text = pcm16_to_b64(pcm)
        decode, encode = best_seconds(lambda: b64_to_pcm16(text)), best_seconds(lambda: pcm16_to_b64(pcm))
        print(row(f"b64_to_pcm16 {ms} ms @24k", decode, pcm.nbytes, ms / 1000))
        print(row(f"pcm16_to_b64 {ms} ms @24k", encode, pcm.nbytes, ms / 1000))
    for src, dst in ((48000, 24000), (24000, 48000)):
        x = (rng.standard_normal(src) * 3000).astype(np.int16)
        label = f"{src // 1000}k->{dst // 1000}k 1 s int16"
        resample(x, src, dst)  # build and cache the filter bank first
        print(row(f"resample {label}", best_seconds(lambda: resample(x, src, dst)), x.nbytes, 1.0))
        chunk = src // 50
        stream = best_seconds(lambda: streamed(x, src, dst, chunk))
        print(row(f"Resampler {label}, 20 ms", stream, x.nbytes, 1.0))


if __name__ == "__main__":
    main()
