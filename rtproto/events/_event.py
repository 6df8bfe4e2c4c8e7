"""Base classes of client and server events.

An event's ``type`` is its msgspec tag: it is written first on encoding and is
available as the read-only ``type`` property, never as a field.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._base import Model


class Event(Model, tag_field="type"):
    """Base of every Realtime event."""

    @property
    def type(self) -> str:
        """The wire ``type`` of this event (``response.output_audio.delta``)."""
        return self.__struct_config__.tag


class ClientEvent(Event):
    """An event the client sends (``event_id`` is always optional)."""


class ServerEvent(Event):
    """An event the server sends."""


class UnknownEvent(msgspec.Struct, frozen=True):
    """An event whose ``type`` this model does not know; ``raw`` is the whole payload.

    It re-encodes to exactly ``raw``, so unknown events pass through untouched.
    """

    type: str
    raw: dict[str, Any]
