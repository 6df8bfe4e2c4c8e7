"""rtproto: the OpenAI Realtime protocol over raw websockets, without the SDK.

Layers (inner to outer): ``rtproto.events`` (lossless msgspec structs),
``rtproto.codec`` (audio), ``rtproto.session`` (the sans-I/O core),
``rtproto.transcript`` / ``rtproto.replay`` / ``rtproto.diff`` (offline tools),
and the I/O edges ``rtproto.transport``, ``rtproto.audio``, ``rtproto.server``
and the CLI ``python -m rtproto.run``.
"""

__version__ = "0.1.0"
