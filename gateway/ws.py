"""Websocket channels: ``/ws/board`` (control room) and ``/ws/teams/{team_id}`` (a team).

Protocol (JSON text frames, server to client):

- ``{"type": "snapshot", "epoch", "seq", "items": [...]}``: the whole state of the channel;
- ``{"type": "deltas", "epoch", "seq", "items": [...]}``: changes after the previous frame,
  newest per entity, at most ``TIKE_WS_MAX_FPS`` frames per second;
- ``{"type": "ack" | "error", ...}``: answers to a team's action messages.

A client resumes with ``?epoch=E&seq=N`` (the last frame's); a gap gives a fresh snapshot.
The token comes as ``?token=`` or an ``Authorization: Bearer`` header. Close codes:
4400 bad request, 4401 token missing, invalid, expired or revoked, 4403 role not allowed,
4408 too slow (a frame was not taken within ``TIKE_WS_SEND_TIMEOUT_S``), 1001 shutdown. A socket
whose token is revoked closes with 4401 within ``TIKE_WS_AUTH_CHECK_S`` (gateway/revocations.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from starlette.websockets import WebSocketState

from gateway import metrics
from gateway.auth import Principal
from gateway.commands import CommandError, origin_of
from gateway.deps import AuthFailure, authenticate, bearer_token
from gateway.fanout import AsgiSink, Sink, Subscriber
from gateway.store import board_key, team_key
from gateway.wire import EXTENSION, Frame
from tike.events import is_entity_id

log = logging.getLogger(__name__)
router = APIRouter()

BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, TOO_SLOW = 4400, 4401, 4403, 4408
TOO_MANY = 4429
LIVE_S = 60.0


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


async def principal_of(ws: WebSocket) -> Principal:
    """Verify the socket's token (``?token=`` or a bearer header) through the same check as
    REST (gateway/deps.py); raises :class:`Closed` with 4401. The process-wide revocation
    set is consulted first (no Redis call), then Redis itself: a token revoked since the
    set's last reload must not get a snapshot either (gateway/revocations.py)."""
    app = ws.app
    token = ws.query_params.get("token") or bearer_token(ws.headers.get("authorization", ""))
    try:
        return await authenticate(
            token, app.state.settings, app.state.store, "ws", app.state.revocations.ids
        )
    except AuthFailure as exc:
        raise Closed(UNAUTHORIZED, str(exc)) from exc


class Session:
    """One client on one channel: snapshot or resume, then the channel's shared frames
    (gateway/fanout.py); this session's own answers (acks, errors, pongs) go through ASGI."""

    def __init__(
        self,
        ws: WebSocket,
        who: Principal,
        channel: str,
        base: str,
        key_of: Callable[[dict[str, Any]], str],
        catch_up: bool = True,
    ) -> None:
        self.ws, self.who, self.channel, self.base = ws, who, channel, base
        state = ws.app.state
        self.settings, self.store, self.hub = state.settings, state.store, state.hub
        self.revocations = state.revocations
        self.feed = self.hub.acquire(base, channel, key_of, catch_up)
        socket = ws.scope.get("extensions", {}).get(EXTENSION)
        self.sink: Sink = socket if socket is not None else AsgiSink(ws.send_text)
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sub = Subscriber(self.sink, self._too_slow)

    def _too_slow(self) -> None:
        if not self.ended.done():
            self.ended.set_exception(Closed(TOO_SLOW, "client too slow"))

    async def _send(self, frame: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(
                self.ws.send_text(orjson.dumps(frame).decode()), self.settings.ws_send_timeout_s
            )
        except TimeoutError as exc:
            metrics.QUEUE_DROPS.labels(self.channel, "closed").inc()
            raise Closed(TOO_SLOW, "client too slow") from exc
        metrics.FRAMES_OUT.labels(self.channel).inc()
        items = frame.get("items") or ()
        metrics.EVENTS_OUT.labels(f"ws:{self.channel}").inc(len(items))

    def _first(self, frame: Frame, epoch: str | None, seq: int) -> None:
        """Send the first frame and join the channel at its position, with nothing between."""
        if not self.sink.write(frame):
            raise WebSocketDisconnect(1006)
        metrics.FRAMES_OUT.labels(self.channel).inc()
        metrics.EVENTS_OUT.labels(f"ws:{self.channel}").inc(frame.items)
        self.feed.join(self.sub, epoch, seq)

    async def _snapshot(self) -> None:
        snap = await self.feed.snapshot()
        self._first(snap.frame, snap.epoch, snap.seq)

    async def _resume(self, epoch: str | None, seq: int | None) -> bool:
        if epoch is None or seq is None:
            return False
        frame = self.feed.resumed(epoch, seq)
        if frame is None:  # not in this process's memory: ask Redis
            if epoch != await self.store.epoch():
                return False
            found = await self.store.since(self.base, seq, self.settings.ws_queue_max)
            if found is None:
                return False
            last = found[-1][0] if found else seq
            self.feed.start(epoch, last)
            frame = Frame(
                {
                    "type": "deltas",
                    "channel": self.channel,
                    "epoch": epoch,
                    "seq": last,
                    "items": [i for _, i in found],
                    "resumed": True,
                }
            )
            metrics.FRAMES_BUILT.labels(self.channel, "resume").inc()
        self._first(frame, epoch, frame.payload["seq"])
        return True

    async def _watch_token(self) -> None:
        """Close with 4401 when the token expires (checked here) or is revoked (the process's
        :class:`~gateway.revocations.Revocations` sets the event): no Redis call, no polling."""
        revoked = self.revocations.watch(self.who.jti)
        try:
            while not revoked.is_set():
                left = self.who.exp - time.time()
                if left <= 0:
                    raise Closed(UNAUTHORIZED, "token expired")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await revoked.wait()
            raise Closed(UNAUTHORIZED, "token revoked")
        finally:
            self.revocations.unwatch(self.who.jti)

    async def _receive(self, on_message: Callable[[dict[str, Any]], Any] | None) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text") or message.get("bytes") or b""
            try:
                msg = orjson.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError("a message is a JSON object")
            except ValueError as exc:
                await self._send({"type": "error", "message": f"bad message: {exc}"})
                continue
            if msg.get("type") == "ping":
                await self._send({"type": "pong", "at": time.time()})
            elif on_message is not None:
                await on_message(msg)
            else:
                await self._send({"type": "error", "message": "this channel takes no messages"})

    async def run(
        self,
        epoch: str | None,
        seq: int | None,
        on_message: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        metrics.CLIENTS.labels(self.channel).inc()
        tasks: list[asyncio.Task[None]] = []
        try:
            if not await self._resume(epoch, seq):
                await self._snapshot()
            tasks = [
                asyncio.create_task(self._watch_token()),
                asyncio.create_task(self._receive(on_message)),
            ]
            done, _ = await asyncio.wait([*tasks, self.ended], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            self.feed.leave(self.sub)
            if isinstance(self.sink, AsgiSink):
                self.sink.close()
            metrics.CLIENTS.labels(self.channel).dec()


def _check_origin(ws: WebSocket) -> None:
    """A browser may open a socket only from an allowed origin (TIKE_WS_ALLOWED_ORIGINS, or
    the gateway's own); a client that sends no Origin is not a browser and is not checked."""
    origin = ws.headers.get("origin")
    if origin is None:
        return
    allowed = {
        o.strip().rstrip("/")
        for o in ws.app.state.settings.ws_allowed_origins.split(",")
        if o.strip()
    }
    if allowed:
        ok = origin.rstrip("/") in allowed
    else:
        host = ws.headers.get("host", "")
        ok = origin.split("://", 1)[-1].rstrip("/") == host
    if not ok:
        metrics.AUTH_FAILURES.labels("ws").inc()
        raise Closed(FORBIDDEN, "origin not allowed")


def _hold_socket(ws: WebSocket, who: Principal) -> Callable[[], None]:
    """Count an open socket of ``who``'s token (at most TIKE_WS_MAX_PER_TOKEN in this
    process); the returned function releases it, once."""
    counts: dict[str, int] = ws.app.state.sockets_per_token
    if counts.get(who.jti, 0) >= ws.app.state.settings.ws_max_per_token:
        metrics.RATE_LIMITED.inc()
        raise Closed(TOO_MANY, "too many sockets for this token")
    counts[who.jti] = counts.get(who.jti, 0) + 1
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            counts[who.jti] -= 1
            if counts[who.jti] <= 0:
                del counts[who.jti]

    return release


async def _serve(ws: WebSocket, open_session: Callable[[Principal], Any]) -> None:
    await ws.accept()
    try:
        _check_origin(ws)
        who = await principal_of(ws)
        held = _hold_socket(ws, who)
        where = origin_of(ws)
        target = (
            ws.url.path.rsplit("/", 1)[-1]
            if "/teams/" in ws.url.path
            else (ws.query_params.get("region") or ws.app.state.default_region)
        )
        try:  # a session of client data is logged before it opens, and when it ends
            await ws.app.state.commands.access(who, "ws.open", target, where)
        except CommandError as exc:
            held()
            raise Closed(1011, "access log unavailable") from exc
        opened = time.monotonic()
        try:
            await open_session(who)
        finally:
            held()
            where["seconds"] = round(time.monotonic() - opened, 1)
            with contextlib.suppress(Exception):
                await ws.app.state.commands.access(who, "ws.close", target, where)
    except Closed as exc:
        if ws.client_state is WebSocketState.CONNECTED:
            await ws.close(exc.code, exc.reason)
    except WebSocketDisconnect:
        pass
    except (RedisError, OSError) as exc:
        log.warning("websocket closed: %s", exc)
        if ws.client_state is WebSocketState.CONNECTED:
            await ws.close(1011, "state store unavailable")


def _board_key(item: dict[str, Any]) -> str:
    return f"{item.get('entity')}:{item.get('id')}"


def _team_key(item: dict[str, Any]) -> str:
    if item.get("kind") == "dispatch":
        return f"dispatch:{item.get('dispatch_id')}"
    return f"note:{item.get('event_id')}:{item.get('at')}"


@router.websocket("/ws/board")
async def board(
    ws: WebSocket, region: str | None = None, epoch: str | None = None, seq: int | None = None
) -> None:
    async def session(who: Principal) -> None:
        if not who.can("control_room", "operator"):
            raise Closed(FORBIDDEN, f"{who.role} may not watch the board")
        name = region or ws.app.state.default_region
        if name not in ws.app.state.registry.regions:
            raise Closed(BAD_REQUEST, f"unknown region {name!r}")
        await Session(ws, who, "board", board_key(name), _board_key).run(epoch, seq)

    await _serve(ws, session)


@router.websocket("/ws/teams/{team_id}")
async def team(
    ws: WebSocket, team_id: str, epoch: str | None = None, seq: int | None = None
) -> None:
    async def session(who: Principal) -> None:
        if not is_entity_id(team_id):
            raise Closed(BAD_REQUEST, "the team id is not a valid id")
        if not who.can_team(team_id):
            raise Closed(FORBIDDEN, f"{who.role} may not read team {team_id}")
        # A team's snapshot is always read fresh: a refusal leaves it when its dispatch moves
        # on, which no coalesced change says to a page that starts from an older snapshot.
        s = Session(ws, who, "team", team_key(team_id), _team_key, catch_up=False)

        async def on_message(msg: dict[str, Any]) -> None:
            key = msg.get("idempotency_key")
            if msg.get("type") != "action" or not isinstance(msg.get("dispatch_id"), str):
                await s._send(
                    {
                        "type": "error",
                        "idempotency_key": key,
                        "message": "expected {type: action, dispatch_id, action}",
                    }
                )
                return
            try:
                result = await ws.app.state.commands.team_action(
                    who, team_id, msg["dispatch_id"], msg, key if isinstance(key, str) else None
                )
            except CommandError as exc:
                await s._send(
                    {
                        "type": "error",
                        "idempotency_key": key,
                        "status": exc.status,
                        "message": exc.message,
                    }
                )
                return
            await s._send({"type": "ack", **result})

        await s.run(epoch, seq, on_message)

    await _serve(ws, session)
