"""Carrying a conversation over to a new connection: the resume plan (pure).

A Realtime session ends with its connection; the conversation need not. When
the edge has connected again, the session core sends, in order:

1. the same session configuration (``session.update``: instructions, voice,
   tools, MCP servers, turn detection), as last sent;
2. the conversation so far, re-seeded as items the new session accepts
   (:func:`reseed`): user turns as ``input_text`` (typed text, or the
   transcript of what was said), assistant turns as ``output_text`` (their text
   or transcript), function calls together with their outputs, and MCP calls
   as a system note of what was called and what it returned. Items still in
   progress, approvals, tool listings and kinds the model does not know are
   left out;
3. a ``response.create`` if a turn was sent on the dead connection and never
   answered.

The re-seeded text is bounded by a budget in characters (:data:`RESEED_BUDGET`,
about 5,000 tokens): when the conversation does not fit, the newest turns are
kept and the oldest dropped (a function call and its output stay together).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rtproto.events import (
    UNSET, AssistantContent, AssistantMessage, ConversationItem, FunctionCall, FunctionCallOutput, McpCall,
    SystemContent, SystemMessage, UserContent, UserMessage,
)

__all__ = ["RESEED_BUDGET", "reseed"]

RESEED_BUDGET = 20_000  # characters of conversation text re-sent on a new connection


def reseed(items: Iterable[ConversationItem], transcripts: Mapping[str, str],
           budget: int = RESEED_BUDGET) -> list[ConversationItem]:
    """The items that carry ``items`` (in conversation order) over to a new session.

    ``transcripts`` maps item ids to their finished transcripts (what the user
    said, what the assistant spoke). Newest first within ``budget`` characters;
    returned in conversation order.
    """
    units = _units(list(items), transcripts)
    kept: list[list[ConversationItem]] = []
    for unit in reversed(units):
        size = sum(_size(item) for item in unit)
        if size > budget:
            break
        budget -= size
        kept.append(unit)
    return [item for unit in reversed(kept) for item in unit]


def _units(items: list[ConversationItem], transcripts: Mapping[str, str]) -> list[list[ConversationItem]]:
    # One unit per turn to keep or drop whole: a message, or a function call with its output.
    outputs = {item.call_id: item for item in items if isinstance(item, FunctionCallOutput)}
    units: list[list[ConversationItem]] = []
    for item in items:
        if isinstance(item, FunctionCall):
            output = outputs.get(item.call_id) if isinstance(item.call_id, str) else None
            if output is not None and _finished(item):
                units.append([FunctionCall(name=item.name, arguments=item.arguments, call_id=item.call_id),
                              FunctionCallOutput(call_id=output.call_id, output=output.output)])
            continue
        copy = _as_text(item, transcripts)
        if copy is not None:
            units.append([copy])
    return units


def _as_text(item: Any, transcripts: Mapping[str, str]) -> ConversationItem | None:
    if isinstance(item, UserMessage):
        text = _text(item, transcripts, ("text", "transcript"))
        return UserMessage(content=[UserContent(type="input_text", text=text)]) if text else None
    if isinstance(item, AssistantMessage) and _finished(item):
        text = _text(item, transcripts, ("text", "transcript"))
        return AssistantMessage(content=[AssistantContent(type="output_text", text=text)]) if text else None
    if isinstance(item, McpCall) and (_present(item.output) or _present(getattr(item, "error", UNSET))):
        result = item.output if _present(item.output) else f"an error: {item.error}"
        note = f"Earlier, the tool {item.server_label}.{item.name}({item.arguments}) was called and returned {result}"
        return SystemMessage(content=[SystemContent(type="input_text", text=note)])
    return None


def _text(item: Any, transcripts: Mapping[str, str], fields: tuple[str, ...]) -> str:
    parts = [getattr(part, name) for part in item.content for name in fields if _present(getattr(part, name, UNSET))]
    text = " ".join(p for p in parts if isinstance(p, str) and p)
    if not text and isinstance(item.id, str):
        text = transcripts.get(item.id, "")
    return text


def _finished(item: Any) -> bool:
    return getattr(item, "status", UNSET) in (UNSET, None, "completed")


def _present(value: Any) -> bool:
    return value is not UNSET and value is not None


def _size(item: Any) -> int:
    if isinstance(item, (UserMessage, AssistantMessage, SystemMessage)):
        return sum(len(part.text or "") for part in item.content)
    if isinstance(item, FunctionCall):
        return len(item.name) + len(item.arguments)
    return len(item.output) if isinstance(item, FunctionCallOutput) else 0
