"""The few websockets internals that moved between websockets 15, 16 and 17, in one place.

rtproto supports ``websockets>=15,<18`` with one code base. Everything else
it uses (``ClientProtocol``, ``Frame``, ``Opcode``, ``Close``, ``State``,
``parse_uri``, the exceptions) has the same name and meaning in all three.
What moved:

* the proxy helpers ``Proxy``, ``get_proxy`` and ``parse_proxy``: in
  ``websockets.uri`` up to 15, in ``websockets.proxy`` from 16;
* the size of the fragmented message being received: ``Protocol.cur_size``
  up to 15, ``Protocol.current_size`` from 16 (``None`` outside one);
* the bound on an incoming message: ``Protocol.max_size`` up to 15,
  ``Protocol.max_message_size`` from 16 (which also adds
  ``max_fragment_size``, ``None`` unless a tuple is passed as ``max_size``);
* ``websockets.frames.OP_TEXT`` and its siblings are gone from 16 (rtproto
  uses ``Opcode`` only).

``HTTPProxyConnection`` (the CONNECT helper of websockets' asyncio client) has
the same module and signature in all three.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from websockets.asyncio.client import HTTPProxyConnection
from websockets.protocol import Protocol, Side

try:  # websockets >= 16
    from websockets.proxy import Proxy, get_proxy, parse_proxy
except ImportError:  # websockets 15
    from websockets.uri import Proxy, get_proxy, parse_proxy  # type: ignore[attr-defined,no-redef]

__all__ = [
    "HTTPProxyConnection",
    "Proxy",
    "frame_limit",
    "get_proxy",
    "parse_proxy",
    "partial_size",
]


def _attribute(protocol: Protocol, new: str, old: str) -> str:
    return new if hasattr(protocol, new) else old


_PROBE = Protocol(Side.CLIENT)
# attrgetter runs in C: partial_size is read once per socket read on the hot path.
partial_size: Callable[[Protocol], int | None] = operator.attrgetter(_attribute(_PROBE, "current_size", "cur_size"))
"""``partial_size(protocol)``: bytes received of the fragmented message in progress, ``None`` outside one."""
_MAX_MESSAGE = _attribute(_PROBE, "max_message_size", "max_size")
del _PROBE


def frame_limit(protocol: Protocol) -> int | None:
    """The longest frame (bytes) ``protocol`` accepts outside a fragmented message; ``None``: no bound.

    That is its bound on a message, or with websockets >= 16 its
    ``max_fragment_size`` when that is tighter (rtproto never sets one).
    """
    size = getattr(protocol, _MAX_MESSAGE)
    fragment = getattr(protocol, "max_fragment_size", None)
    if fragment is not None and (size is None or fragment < size):
        return fragment
    return size
