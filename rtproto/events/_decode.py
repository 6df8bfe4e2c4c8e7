"""Turning frames into events: one msgspec decoder per event set, built once."""

from __future__ import annotations

import re
from typing import Any, Iterable, Union

import msgspec

from ..errors import ProtocolError
from ._base import dec_hook, format_validation_error
from ._event import Event, UnknownEvent


class _TypeProbe(msgspec.Struct):
    type: str


_probe = msgspec.json.Decoder(_TypeProbe)
_any = msgspec.json.Decoder()
# A `type` written first, the way servers and SDKs write it; read without
# parsing, for frames too deeply nested to parse at all.
_LEADING_TYPE = re.compile(rb'\s*\{\s*"type"\s*:\s*"([^"\\]{1,200})"')


class EventDecoder:
    """Decodes frames of one event set (say GA server events) into structs.

    The fast path is a single tagged-union decode. Only when it fails is the
    frame looked at again, to tell an unknown ``type`` (-> :class:`UnknownEvent`)
    from a malformed known event (-> :class:`ProtocolError` naming the event
    type and the JSON path).
    """

    def __init__(self, classes: Iterable[type[Event]]):
        self.classes: dict[str, type[Event]] = {c.__struct_config__.tag: c for c in classes}
        union = Union[tuple(self.classes.values())]  # noqa: UP007 - a runtime union of classes
        self._decoder = msgspec.json.Decoder(union, dec_hook=dec_hook)

    def decode(self, data: bytes | str) -> Any:
        """Decode one frame; raises :class:`ProtocolError` and nothing else."""
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError as exc:
            invalid = exc
        except RecursionError:
            raise _too_deep(data) from None
        except (msgspec.DecodeError, TypeError, ValueError) as exc:
            raise ProtocolError(f"invalid JSON: {exc}") from None
        try:
            return self._recover(data, invalid)
        except RecursionError:
            raise _too_deep(data) from None
        except ProtocolError:
            raise
        except ValueError as exc:  # bad JSON or UTF-8 past the point where validation failed
            raise ProtocolError(f"invalid JSON: {exc}") from None

    def _recover(self, data: bytes | str, exc: msgspec.ValidationError) -> Any:
        try:
            event_type = _probe.decode(data).type
        except msgspec.ValidationError as probe_exc:
            message, _ = format_validation_error(str(probe_exc))
            raise ProtocolError(f"not an event (needs a JSON object with a string `type`): {message}") from None
        if event_type not in self.classes:
            return UnknownEvent(type=event_type, raw=_any.decode(data))
        message, path = format_validation_error(str(exc))
        where = f" at {path}" if path else ""
        raise ProtocolError(f"{event_type}: {message}{where}", event_type=event_type, path=path) from None


def _too_deep(data: bytes | str) -> ProtocolError:
    head = data[:300].encode("utf-8", "replace") if isinstance(data, str) else bytes(data[:300])
    match = _LEADING_TYPE.match(head)
    event_type = match.group(1).decode("utf-8", "replace") if match else None
    prefix = f"{event_type}: " if event_type else ""
    return ProtocolError(f"{prefix}JSON nested too deeply to decode", event_type=event_type)
