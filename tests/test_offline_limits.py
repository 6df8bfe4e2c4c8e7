"""The offline commands (check, replay, diff, serve) on large and hostile files, as real processes."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli_harness import FIXTURES, MEASURED_CLI, cli_env, peak_rss_kib

SOURCE = FIXTURES / "diff" / "ga_weather.jsonl"
RSS_BOUND_KB = 75_000  # before streaming: check 134 MB, replay 100 MB, diff 195 MB on this file


def inflate(target: Path, size: int) -> Path:
    """A real conversation grown to ``size`` bytes by repeating its audio deltas (written as bytes, fast)."""
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    big = base64.b64encode(bytes(range(256)) * 4)[:1280]  # 20 ms of 24 kHz PCM16
    delta = re.compile(rb'"delta":"[^"]*"')
    copies = size // (sum(b'"response.output_audio.delta"' in line for line in lines) * (len(big) + 200))
    with open(target, "wb") as out:
        for line in lines:
            if b'"response.output_audio.delta"' in line:
                out.write(delta.sub(b'"delta":"' + big + b'"', line) * copies)
            out.write(line)
    return target


def run(*args: str, cwd: Path, measured: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", MEASURED_CLI, *args] if measured else [sys.executable, "-m", "rtproto.run", *args]
    return subprocess.run(command, cwd=cwd, env=cli_env(cwd), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    return inflate(tmp_path_factory.mktemp("big") / "big.jsonl", 40_000_000)


@pytest.mark.parametrize("command", [["check"], ["replay"], ["diff", str(SOURCE)]])
def test_offline_commands_use_memory_independent_of_the_length(big, tmp_path, command):
    done = run(command[0], str(big), *command[1:], cwd=tmp_path, measured=True)
    assert done.returncode == 0, done.stderr[-2000:]  # clean, the same conversation, equivalent
    peak_kb = peak_rss_kib(done.stderr)
    assert big.stat().st_size > 39_000_000
    assert peak_kb < RSS_BOUND_KB, f"{command[0]} peaked at {peak_kb} KB"


# ---------------------------------------------------------------------------
# Hostile files: one line `error: ...`, exit 2, no traceback


def hostile_files(root: Path) -> dict[str, Path]:
    (root / "a_directory").mkdir()
    files = {"a directory": root / "a_directory"}
    for name, data in {
        "binary": bytes(range(256)) * 16,
        "not UTF-8": b'{"rtproto":"transcript/1","api":"ga"}\n{"t":1,"dir":"server","event":{"type":"x\xff"}}\n'
                     b'{"t":2,"dir":"server","event":{"type":"y"}}\n',
        "empty": b"",
        "no header": b'{"type":"session.created"}\n',
    }.items():
        files[name] = root / f"{name.replace(' ', '_')}.jsonl"
        files[name].write_bytes(data)
    huge = files["one 100 MB line"] = root / "huge.jsonl"
    with open(huge, "wb") as out:
        out.write(b'{"rtproto":"transcript/1","api":"ga"}\n{"t":1,"dir":"server","event":{"type":"x","d":"')
        out.write(b"A" * 100_000_000)
        out.write(b'"}}\n')
    return files


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    return hostile_files(tmp_path_factory.mktemp("hostile"))


HOSTILE_CASES = [("check", kind) for kind in ("a directory", "binary", "not UTF-8", "empty", "no header",
                                              "one 100 MB line")]
HOSTILE_CASES += [(command, kind) for command in ("replay", "diff") for kind in ("a directory", "binary", "empty")]


@pytest.mark.parametrize(("command", "kind"), HOSTILE_CASES)
def test_a_file_that_is_no_transcript_is_one_error_line_and_exit_2(hostile, tmp_path, command, kind):
    path = hostile[kind]
    args = [command, str(path)] + ([str(SOURCE)] if command == "diff" else [])
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and path.name in done.stderr
    if kind == "one 100 MB line":
        assert ":2: line longer than" in done.stderr


def test_serve_refuses_a_file_that_is_no_transcript_without_a_traceback(hostile, tmp_path):
    done = run("serve", str(hostile["binary"]), "--port", "0", cwd=tmp_path)
    assert done.returncode != 0 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    command = ("import asyncio, sys, types; from rtproto.server import cli_serve; "
               "sys.exit(asyncio.run(cli_serve(types.SimpleNamespace(file=sys.argv[1]))))")
    for path in (hostile["binary"], hostile["a directory"]):
        done = subprocess.run([sys.executable, "-c", command, str(path)], env=cli_env(tmp_path), cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


# ---------------------------------------------------------------------------
# What a server sent is never bad input


def test_an_older_file_with_typeless_events_is_read_by_every_command(tmp_path):
    lines = SOURCE.read_text().splitlines()
    lines[3:3] = [json.dumps({"t": 60.0, "dir": "server", "event": {"no": "type"}}),
                  json.dumps({"t": 60.0, "dir": "server", "event": {"type": 5}}),
                  json.dumps({"t": 60.0, "dir": "client", "event": [1, 2]})]
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join(lines) + "\n")

    check = run("check", str(old), cwd=tmp_path)
    assert check.returncode == 1 and check.stdout.count("[not-json]") == 3, check.stdout + check.stderr
    assert f"{old}:4: error: server frame is not a JSON object with a string type" in check.stdout
    replay = run("replay", str(old), cwd=tmp_path)
    assert replay.returncode == 0 and "assistant ▸" in replay.stdout, replay.stderr
    diff = run("diff", str(SOURCE), str(old), cwd=tmp_path)
    assert diff.returncode in (0, 1) and "rtproto diff" in diff.stdout, diff.stderr
