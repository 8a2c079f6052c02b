"""Shared frames (gateway/wire.py): a frame compressed once decodes for every client, and the
uvicorn internals the protocol subclass uses are listed and still exist."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import orjson
import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from gateway import wire
from gateway.wire import PLAIN, PRIVATE_NAMES, WINDOW_BITS, Frame
from streams import compat
from streams.compat import PrivateName

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("entry", PRIVATE_NAMES, ids=lambda e: e.name)
def test_every_uvicorn_name_the_protocol_uses_exists(entry: PrivateName) -> None:
    compat.resolve(entry)  # raises AttributeError when uvicorn no longer has it


def test_a_moved_uvicorn_name_is_caught() -> None:
    gone = PrivateName("uvicorn", PRIVATE_NAMES[0].module, "WebSocketsSansIOProtocol.no_such", True)
    with pytest.raises(AttributeError):
        compat.resolve(gone)


def test_the_installed_uvicorn_is_the_verified_one() -> None:
    for dist, verified in wire.VERIFIED_VERSIONS.items():
        assert importlib.metadata.version(dist) == verified, (
            f"{dist} changed: read every name in gateway/wire.py PRIVATE_NAMES in its source, "
            "then update VERIFIED_VERSIONS"
        )


def test_the_protocol_lists_every_uvicorn_attribute_it_touches() -> None:
    """Attributes read on uvicorn's protocol (``p.x``, ``self.proto.x``, ``self.x`` inside
    FanoutProtocol) are either listed or wire.py's own."""
    tree = ast.parse((ROOT / "gateway" / "wire.py").read_text())
    touched: set[str] = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if not isinstance(node, ast.Attribute):
                continue
            on = node.value
            if (
                (isinstance(on, ast.Name) and on.id == "p")
                or (isinstance(on, ast.Attribute) and on.attr == "proto")
                or (cls.name == "FanoutProtocol" and isinstance(on, ast.Name) and on.id == "self")
            ):
                touched.add(node.attr)
    listed = {e.name.rsplit(".", 1)[-1] for e in PRIVATE_NAMES}
    own = {"socket", "changed"}  # FanoutProtocol's own attribute; Socket's own method
    assert touched - listed - own == set()


# --- frames on the wire (websockets sans-I/O, both ends) ------------------------------------


def _pair(
    server_ext: ServerPerMessageDeflateFactory | None,
) -> tuple[ServerProtocol, ClientProtocol]:
    """A completed handshake between a server and a browser-like client (offers deflate)."""
    server = ServerProtocol(extensions=[server_ext] if server_ext else None)
    client = ClientProtocol(
        parse_uri("ws://localhost/ws/board"),
        extensions=[ClientPerMessageDeflateFactory(client_max_window_bits=True)],
    )
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    (request,) = server.events_received()
    server.send_response(server.accept(request))
    for data in server.data_to_send():
        client.receive_data(data)
    client.events_received()
    return server, client


def _deliver(client: ClientProtocol, raw: bytes) -> list[bytes]:
    client.receive_data(raw)
    return [bytes(e.data) for e in client.events_received() if isinstance(e, WsFrame)]


def _fmt(server: ServerProtocol) -> int:
    """The wire format the gateway picks for this connection (gateway/wire.py Socket.fmt)."""
    for ext in server.extensions:
        local = getattr(ext, "local_max_window_bits", None)
        if local is not None:
            return int(local)
    return PLAIN


def _message(n: int) -> dict[str, object]:
    return {
        "type": "deltas",
        "seq": n,
        "items": [{"id": f"need-{i}", "x": "a" * 40} for i in range(n)],
    }


@pytest.mark.parametrize("no_context_takeover", [True, False], ids=["gateway", "uvicorn-default"])
def test_a_shared_frame_decodes_for_every_client_interleaved_with_its_own(
    no_context_takeover: bool,
) -> None:
    """One compressed frame, written to three clients, decodes for each; the connection's own
    messages (acks, pongs) in between still decode. The gateway negotiates no context
    takeover; a client that kept context (uvicorn's default) decodes shared frames too."""
    factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=no_context_takeover,
        client_no_context_takeover=no_context_takeover,
        server_max_window_bits=WINDOW_BITS,
        client_max_window_bits=WINDOW_BITS,
        compress_settings={"memLevel": 5},
    )
    pairs = [_pair(factory) for _ in range(3)]
    shared = [Frame(_message(n)) for n in (20, 30, 5)]
    for server, client in pairs:
        fmt = _fmt(server)
        assert fmt == WINDOW_BITS
        got: list[bytes] = []
        for i, frame in enumerate(shared):
            got += _deliver(client, frame.wire(fmt))
            if no_context_takeover:  # the connection's own compressor, between shared frames
                server.send_text(orjson.dumps({"type": "ack", "i": i}))
                got += _deliver(client, b"".join(server.data_to_send()))
        want = [f.text for f in shared]
        if no_context_takeover:
            acks = [orjson.dumps({"type": "ack", "i": i}) for i in range(3)]
            want = [x for pair in zip(want, acks, strict=True) for x in pair]
        assert got == want


def test_a_frame_is_encoded_and_compressed_once_and_compression_pays() -> None:
    frame = Frame(_message(50))
    deflated, plain = frame.wire(WINDOW_BITS), frame.wire(PLAIN)
    assert frame.wire(WINDOW_BITS) is deflated and frame.wire(PLAIN) is plain  # built once
    assert deflated[0] & 0x40 and not plain[0] & 0x40  # RSV1: compressed or not
    assert len(deflated) < len(plain) / 5
    server, client = _pair(None)  # a client without compression gets the plain bytes
    assert _fmt(server) == PLAIN
    assert _deliver(client, plain) == [frame.text]


def test_small_frames_are_not_compressed() -> None:
    pong = Frame({"type": "deltas", "seq": 1, "items": []})
    raw = pong.wire(WINDOW_BITS)
    assert not raw[0] & 0x40
    assert raw == WsFrame(Opcode.TEXT, pong.text).serialize(mask=False)


def test_with_context_takeover_a_shared_frame_breaks_the_connections_own_frames() -> None:
    """Why the gateway negotiates no context takeover: with uvicorn's default, the
    connection's compressor refers back to its own earlier message, which the client's
    window no longer ends with once a shared frame came between."""
    factory = ServerPerMessageDeflateFactory(
        server_max_window_bits=WINDOW_BITS,
        client_max_window_bits=WINDOW_BITS,
        compress_settings={"memLevel": 5},
    )
    server, client = _pair(factory)
    own = orjson.dumps({"type": "ack", "text": "same words again " * 8})
    server.send_text(own)
    assert _deliver(client, b"".join(server.data_to_send())) == [own]
    shared = Frame({"type": "deltas", "items": ["other bytes entirely " * 20]})
    assert _deliver(client, shared.wire(_fmt(server))) == [shared.text]
    server.send_text(own)
    try:
        got = _deliver(client, b"".join(server.data_to_send()))
    except Exception:  # the client may also fail to decode it
        return
    assert got != [own]
