"""The Realtime protocol's events as lossless msgspec structs.

Public API::

    decode_server(data, api="ga", strict=False) -> ServerEvent | UnknownEvent
    decode_client(data, api="ga") -> ClientEvent | UnknownEvent
    encode(event) -> bytes          # compact JSON, ready to send
    leniencies(frame, event) -> [(json_path, what was tolerated), ...]

Struct names follow wire names: ``response.output_audio.delta`` is
:class:`ResponseOutputAudioDelta`. Optional fields default to ``UNSET``, so
``encode(decode_server(frame))`` gives back the frame's JSON object exactly,
including fields the model does not know (see :func:`extra_fields`).

Server events are read liberally, client events strictly. ``decode_server``
turns a nested object of an unknown kind (a future item, tool, content of a
union...) into a placeholder of its union (:class:`UnknownConversationItem`,
:class:`UnknownTool`, ... all :class:`UnknownObject`) that keeps its JSON, and
leaves a required field the server omitted ``UNSET`` (a ``null`` stays ``None``).
``decode_client`` and ``decode_server(..., strict=True)`` refuse both.
An unknown ``type`` decodes to :class:`UnknownEvent` (no exception); a frame
that is not a JSON object with a string ``type``, or holds a value of the wrong
kind, raises :class:`rtproto.errors.ProtocolError` naming the event type and
the JSON path. :func:`leniencies` lists what a lenient read tolerated.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._base import UNSET, Model, OneOf, UnknownObject, UnsetType, enc_hook, extra_fields, value_at
from ._decode import EventDecoder
from ._event import ClientEvent, Event, ServerEvent, UnknownEvent
from ._lenient import leniencies, to_builtins
from .client import *  # noqa: F403
from .config import *  # noqa: F403
from .items import *  # noqa: F403
from .response import *  # noqa: F403
from .server import *  # noqa: F403
from .tools import *  # noqa: F403
from . import client as _client, server as _server


def _event_classes(module: Any, base: type) -> list[type]:
    found = (v for v in vars(module).values() if isinstance(v, type) and issubclass(v, base))
    return [v for v in found if v.__module__ == module.__name__ and v is not base]


GA_SERVER = EventDecoder(_event_classes(_server, ServerEvent))
GA_CLIENT = EventDecoder(_event_classes(_client, ClientEvent), strict=True)

_DECODERS: dict[tuple[str, str], EventDecoder] = {("ga", "server"): GA_SERVER, ("ga", "client"): GA_CLIENT}


def decoder(side: str, api: str = "ga") -> EventDecoder:
    """The decoder for ``side`` (``"server"`` or ``"client"``) of ``api`` (``ga``, ``beta``, ``translation``)."""
    try:
        return _DECODERS[api, side]
    except KeyError:
        if api in ("beta", "translation"):
            _load_extra_api(api)
            return _DECODERS[api, side]
        raise ValueError(f"unknown api {api!r} or side {side!r}") from None


def _load_extra_api(api: str) -> None:
    from importlib import import_module

    module = import_module(f".{api}", __name__)
    _DECODERS[api, "server"] = EventDecoder(module.SERVER_EVENTS)
    _DECODERS[api, "client"] = EventDecoder(module.CLIENT_EVENTS, strict=True)


# The msgspec decoders themselves: a well-formed GA frame (nearly every frame)
# skips EventDecoder.decode's Python frame, about 5% of receiving an audio delta.
_ga_server_fast = GA_SERVER._decoder.decode
_ga_client_fast = GA_CLIENT._decoder.decode


def decode_server(data: bytes | str, api: str = "ga", strict: bool = False) -> Any:
    """Decode one server frame into its event struct (or :class:`UnknownEvent`).

    Liberal unless ``strict``: see the module docstring.
    """
    if api == "ga":
        try:
            return _ga_server_fast(data)
        except Exception:  # decoded again below: read liberally, name the problem, or an unknown type
            return GA_SERVER.decode(data, strict)
    return decoder("server", api).decode(data, strict)


def decode_client(data: bytes | str, api: str = "ga") -> Any:
    """Decode one client frame into its event struct (or :class:`UnknownEvent`), strictly."""
    if api == "ga":
        try:
            return _ga_client_fast(data)
        except Exception:  # as in decode_server
            return GA_CLIENT.decode(data)
    return decoder("client", api).decode(data)


_encoder = msgspec.json.Encoder(enc_hook=enc_hook)


def encode(event: Any) -> bytes:
    """Encode an event (or an :class:`UnknownEvent`) as compact JSON bytes."""
    if type(event) is UnknownEvent:
        return _encoder.encode(event.raw)
    if event.__dict__:  # a decode kept unknown fields somewhere in it (inlined: this is the send path)
        return _encoder.encode(to_builtins(event))
    return _encoder.encode(event)


def to_dict(event: Any) -> dict[str, Any]:
    """The event as a JSON-ready dict, exactly as :func:`encode` writes it."""
    if type(event) is UnknownEvent:
        return event.raw
    if _has_extras(event):
        return to_builtins(event)
    return msgspec.to_builtins(event, enc_hook=enc_hook)


def _has_extras(event: Any) -> bool:
    # A decode that kept unknown fields anywhere in the event marks its __dict__ (see _lenient.read_event).
    try:
        return bool(event.__dict__)
    except AttributeError:
        return False
