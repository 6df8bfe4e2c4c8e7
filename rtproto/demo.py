"""The offline main job: a real conversation with the built-in local server.

With no API key, ``python -m rtproto.run`` starts :class:`rtproto.server.RealtimeServer`
on 127.0.0.1 playing a bundled transcript (a GitHub MCP approval flow), and runs
the very same client code as a live session against it: transport, session core,
approvals, response-create-after-tool, audio out. The approval is answered as
recorded, so the demo runs unattended.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from .transcript import read_transcript

LIVE_HINT = ("To talk to the live API instead: export OPENAI_API_KEY=sk-... and run "
             "python -m rtproto.run (add --mcp github=https://api.githubcopilot.com/mcp/ "
             "--mcp-token-env GITHUB_PAT for GitHub's tools).")


def recorded_answers(path: Path) -> dict[str, tuple[bool, str | None]]:
    """The approval answers recorded in a transcript, by approval request id."""
    answers = {}
    for event in read_transcript(path).local_events():
        if event.get("type") == "approval.answer":
            answers[event["approval_request_id"]] = (bool(event["approve"]), event.get("reason"))
    return answers


def _demo_sink(opts: Any, console: Any) -> Any:
    from . import audio
    from .errors import AudioDeviceError
    from .talk import _open_file

    if opts.output:
        return _open_file(functools.partial(audio.WavSink, realtime=False), opts.output, "--output")
    try:
        return audio.Speaker(device=opts.output_device)
    except AudioDeviceError as exc:
        console.info(f"no speaker ({str(exc).splitlines()[0]}); writing the assistant's audio to rtproto-demo.wav")
        return audio.WavSink("rtproto-demo.wav", realtime=False)


async def run_demo(opts: Any, transcript: Path, *, explicit: bool = False) -> int:
    """Serve ``transcript`` locally and hold the conversation against it; returns the exit code."""
    from .console import Console, approval_question
    from .server import RealtimeServer
    from .talk import converse

    console = Console()
    if not explicit:
        console.info("No OPENAI_API_KEY: running the offline demo against rtproto's local server.")
    answers = recorded_answers(transcript)

    async def approve_as_recorded(request: Any, timeout: float | None = None) -> tuple[bool, str | None]:
        approve, reason = answers.get(request.id, (False, "not in the recording"))
        console.prompt(approval_question(request))
        console.answered(f"{'y' if approve else 'n'}  (demo: answered as recorded)", True)
        return approve, reason

    header = read_transcript(transcript).header
    opts.model = header.get("model", opts.model)
    opts.mcp = []  # the recording holds the tool configuration the server expects
    opts.reconnect = False  # the recording is played once
    opts.allow = list(header.get("policy", {}).get("allow", []))
    opts.ask = list(header.get("policy", {}).get("ask", []))
    async with RealtimeServer(transcript, speed="max", close_when_done=True) as server:
        await converse(opts, url=f"{server.url}?model={opts.model}", api_key=None, console=console,
                       approver=approve_as_recorded, source=None, sink=_demo_sink(opts, console))
    console.info(LIVE_HINT)
    return 0
