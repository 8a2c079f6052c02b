"""Shared websocket frames: encoded once, compressed once, written to many sockets.

A board change goes to every client of a region, and every client in the same state (same
channel, same position) gets the same bytes. :class:`Frame` holds one server message: its JSON
is encoded once and its wire bytes are built once per *wire format* (:data:`PLAIN` or the
permessage-deflate window bits a client negotiated), with a fresh compressor, so no frame
depends on the ones before it.

That is only correct if the socket's own compressor does not keep context between messages
either (a client's decompressor would otherwise see a back-reference into a frame the
server's compressor never saw). :class:`FanoutProtocol` is uvicorn's websockets-sansio
protocol with permessage-deflate negotiated **without context takeover** both ways (every
browser accepts it; RFC 7692 §7.1.1), and it gives the ASGI app a :class:`Socket` in the
scope's extensions (:data:`EXTENSION`) that writes pre-built frames straight to the
transport. Without context takeover a connection also keeps no compressor or decompressor
between messages (about 40 KB each with context takeover).

Under another ASGI server (or Starlette's test client) there is no :class:`Socket`, and the
gateway sends the same shared JSON text through ASGI instead (gateway/fanout.py
``AsgiSink``).

uvicorn offers no public hook for either, so this module reads and overrides attributes of
its protocol class; :data:`PRIVATE_NAMES` lists each one (as streams/compat.py does for the
worker's consumer), and tests/gateway/test_wire.py fails when one moves. websockets is used
through its public API only (``Frame.serialize``, ``PerMessageDeflate``, ``ServerProtocol``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from streams.compat import PrivateName

log = logging.getLogger(__name__)

#: The ASGI scope extension under which :class:`FanoutProtocol` hands the app its socket.
EXTENSION = "tike.socket"
#: Wire format of a client without compression.
PLAIN = 0
#: uvicorn's own permessage-deflate settings (kept: window 4 KiB, memLevel 5).
WINDOW_BITS = 12
COMPRESS_SETTINGS = {"memLevel": 5}
#: Frames shorter than this are not worth compressing (the deflate header and the CPU).
COMPRESS_MIN_BYTES = 256

_UVICORN = "uvicorn.protocols.websockets.websockets_sansio_impl"
_P = "WebSocketsSansIOProtocol"

#: Every uvicorn internal this module uses (read, written or overridden).
PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName("uvicorn", _UVICORN, f"{_P}.__init__"),
    PrivateName("uvicorn", _UVICORN, f"{_P}.handle_connect"),
    PrivateName("uvicorn", _UVICORN, f"{_P}.pause_writing"),
    PrivateName("uvicorn", _UVICORN, f"{_P}.resume_writing"),
    PrivateName("uvicorn", _UVICORN, f"{_P}.connection_lost"),
    PrivateName("uvicorn", _UVICORN, f"{_P}.conn", True),
    PrivateName("uvicorn", _UVICORN, f"{_P}.config", True),
    PrivateName("uvicorn", _UVICORN, f"{_P}.transport", True),
    PrivateName("uvicorn", _UVICORN, f"{_P}.scope", True),
    PrivateName("uvicorn", _UVICORN, f"{_P}.writable", True),
    PrivateName("uvicorn", _UVICORN, f"{_P}.close_sent", True),
    PrivateName("uvicorn", _UVICORN, f"{_P}.handshake_complete", True),
    PrivateName("uvicorn", _UVICORN, f"{_P}.disconnected", True),
)
#: The uvicorn versions the names above were read in.
VERIFIED_VERSIONS = {"uvicorn": "0.54.0"}


def _deflate(window_bits: int) -> PerMessageDeflate:
    """A permessage-deflate encoder that starts a fresh compressor for every message."""
    return PerMessageDeflate(True, True, WINDOW_BITS, window_bits, dict(COMPRESS_SETTINGS))


class Frame:
    """One server message, shared by every client in the same state.

    ``text``: the JSON (bytes), encoded once. :meth:`wire` gives the complete websocket frame
    for a wire format, built on first use and kept. ``items`` (for metrics) is the number of
    changes the message carries."""

    __slots__ = ("_text", "_wire", "items", "payload")

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self._text = orjson.dumps(payload)
        self._wire: dict[int, bytes] = {}
        self.items = len(payload.get("items") or ())

    @property
    def text(self) -> bytes:
        return self._text

    def wire(self, fmt: int) -> bytes:
        wire = self._wire.get(fmt)
        if wire is None:
            frame = WsFrame(Opcode.TEXT, self._text)
            if fmt == PLAIN or len(self._text) < COMPRESS_MIN_BYTES:
                wire = frame.serialize(mask=False)
            else:
                wire = frame.serialize(mask=False, extensions=[_deflate(fmt)])
            self._wire[fmt] = wire
        return wire

    @property
    def size(self) -> int:
        return len(self._text) + sum(len(w) for w in self._wire.values())


class Socket:
    """What the fan-out needs of one websocket: its wire format, a non-blocking write of a
    whole pre-built frame, and word when its transport stops or starts taking writes
    (asyncio's high-water mark: a reader that does not read gets nothing more until it does).
    """

    __slots__ = ("_fmt", "listener", "paused", "proto")

    def __init__(self, proto: FanoutProtocol) -> None:
        self.proto = proto
        self.listener: Callable[[bool], None] | None = None
        self._fmt: int | None = None
        #: The transport is over its high-water mark (kept by the protocol's pause and resume
        #: callbacks rather than asked of its event on every write).
        self.paused = False

    @property
    def fmt(self) -> int:
        """The wire format, fixed by the handshake (looked up once)."""
        if self._fmt is None:
            self._fmt = PLAIN
            for ext in self.proto.conn.extensions:
                if isinstance(ext, PerMessageDeflate):
                    self._fmt = ext.local_max_window_bits
        return self._fmt

    def write(self, frame: Frame) -> bool:
        """Write ``frame`` now (it may pause the socket). False if the socket is not open:
        handshake done, no close sent or received, transport not closing. The fan-out's
        inner loop, so the checks are inline and the format is read from its cache."""
        p = self.proto
        transport = p.transport
        if (
            p.close_sent
            or p.disconnected
            or transport.is_closing()
            or not p.handshake_complete
            or p.conn.state is not State.OPEN
        ):
            return False
        fmt = self._fmt if self._fmt is not None else self.fmt
        transport.write(frame.wire(fmt))
        return True

    def changed(self, paused: bool) -> None:
        self.paused = paused
        if self.listener is not None:
            self.listener(paused)


class FanoutProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with permessage-deflate without context takeover,
    and a :class:`Socket` for the app (``scope["extensions"]["tike.socket"]``)."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if self.config.ws_per_message_deflate:
            self.conn = ServerProtocol(
                extensions=[
                    ServerPerMessageDeflateFactory(
                        server_no_context_takeover=True,
                        client_no_context_takeover=True,
                        server_max_window_bits=WINDOW_BITS,
                        client_max_window_bits=WINDOW_BITS,
                        compress_settings=dict(COMPRESS_SETTINGS),
                    )
                ],
                max_size=self.config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )
        self.socket = Socket(self)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # a refused handshake has no scope
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[EXTENSION] = self.socket

    def pause_writing(self) -> None:
        super().pause_writing()
        self.socket.changed(True)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.socket.changed(False)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.socket.changed(False)  # uvicorn sets writable: wake whoever waits, to find it shut
