"""Turning frames into events: one msgspec decoder per event set, built once."""

from __future__ import annotations

import re
from typing import Any, Iterable, Union

import msgspec

from ..errors import ProtocolError
from ._base import dec_hook, format_validation_error
from ._event import Event, UnknownEvent
from ._lenient import Hopeless, read_event


class _TypeProbe(msgspec.Struct):
    type: str


_probe = msgspec.json.Decoder(_TypeProbe)
_any = msgspec.json.Decoder()
# A `type` written first, the way servers and SDKs write it; read without
# parsing, for frames too deeply nested to parse at all.
_LEADING_TYPE = re.compile(rb'\s*\{\s*"type"\s*:\s*"([^"\\]{1,200})"')


class EventDecoder:
    """Decodes frames of one event set (say GA server events) into structs.

    The fast path is a single tagged-union decode of a frame the model
    describes exactly. Only when it fails is the frame looked at again: an
    unknown ``type`` gives :class:`UnknownEvent`; a known one is read by
    :mod:`._lenient`, liberally unless ``strict`` (unknown kinds become
    placeholders, missing required fields stay ``UNSET``, unknown fields are
    kept); what cannot be read at all raises :class:`ProtocolError` naming the
    event type and the JSON path.
    """

    def __init__(self, classes: Iterable[type[Event]], strict: bool = False):
        self.classes: dict[str, type[Event]] = {c.__struct_config__.tag: c for c in classes}
        self.strict = strict
        union = Union[tuple(self.classes.values())]  # noqa: UP007 - a runtime union of classes
        self._decoder = msgspec.json.Decoder(union, dec_hook=dec_hook)

    def decode(self, data: bytes | str, strict: bool | None = None) -> Any:
        """Decode one frame; raises :class:`ProtocolError` and nothing else.

        ``strict`` (default: the decoder's own setting) refuses what a lenient
        read would tolerate; unknown fields are kept either way.
        """
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError as exc:
            invalid = exc
        except RecursionError:
            raise _too_deep(data) from None
        except (msgspec.DecodeError, TypeError, ValueError) as exc:
            raise ProtocolError(f"invalid JSON: {exc}") from None
        try:
            return self._recover(data, invalid, self.strict if strict is None else strict)
        except RecursionError:
            raise _too_deep(data) from None
        except ProtocolError:
            raise
        except ValueError as exc:  # bad JSON or UTF-8 past the point where validation failed
            raise ProtocolError(f"invalid JSON: {exc}") from None

    def _recover(self, data: bytes | str, exc: msgspec.ValidationError, strict: bool) -> Any:
        try:
            event_type = _probe.decode(data).type
        except msgspec.ValidationError as probe_exc:
            message, _ = format_validation_error(str(probe_exc))
            raise ProtocolError(f"not an event (needs a JSON object with a string `type`): {message}") from None
        try:
            raw = _any.decode(data)
        except msgspec.ValidationError:  # a number out of range: msgspec's first error has the better path
            raise _invalid(event_type, str(exc)) from None
        if event_type not in self.classes:
            return UnknownEvent(type=event_type, raw=raw)
        try:
            return read_event(raw, self.classes[event_type], strict)
        except Hopeless as hopeless:
            message, inner = format_validation_error(hopeless.message)
            path = hopeless.path + (inner[1:] if inner else "")
            raise _invalid(event_type, message, path if path != "$" else None) from None


def _invalid(event_type: str, message: str, path: str | None = None) -> ProtocolError:
    if path is None:
        message, path = format_validation_error(message)
    where = f" at {path}" if path else ""
    return ProtocolError(f"{event_type}: {message}{where}", event_type=event_type, path=path)


def _too_deep(data: bytes | str) -> ProtocolError:
    head = data[:300].encode("utf-8", "replace") if isinstance(data, str) else bytes(data[:300])
    match = _LEADING_TYPE.match(head)
    event_type = match.group(1).decode("utf-8", "replace") if match else None
    prefix = f"{event_type}: " if event_type else ""
    return ProtocolError(f"{prefix}JSON nested too deeply to decode", event_type=event_type)
