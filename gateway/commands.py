"""Writes through the gateway: team actions, control-room actions and the audit log.

Each write is idempotent by its key (``Idempotency-Key`` or the socket message's
``idempotency_key``): the first request sends, a repeat gets the first answer back. Every
write is audited on ``tike.audit`` before it is sent (who, when, what, before and after).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from gateway import metrics
from gateway.auth import Principal
from gateway.store import P, Store
from tike import logs, topics
from tike.events import ControlAction, TeamEvent
from tike.records import stable_id
from tike.settings import GatewaySettings

log = logging.getLogger(__name__)
IDEMPOTENCY_TTL_S = 24 * 3600


class CommandError(Exception):
    """A write refused; ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:500]


def origin_of(conn: Any) -> dict[str, Any]:
    """Where a request or socket came from, for the access log: the peer address (the proxy,
    behind one), and what the request says of itself (``X-Forwarded-For``, user agent; not
    verified, kept as given)."""
    headers = conn.headers
    return {
        "client": conn.client.host if conn.client else None,
        "forwarded_for": (headers.get("x-forwarded-for") or "")[:200] or None,
        "user_agent": (headers.get("user-agent") or "")[:200] or None,
        "path": conn.url.path[:200],
    }


def audit_record(
    actor: str, role: str, action: str, target: str, before: Any, after: Any, via: str = "api"
) -> dict[str, Any]:
    """One record of ``tike.audit``: who (subject and role), when, what, before and after,
    and through what (``api`` or ``cli``)."""
    return {
        "kind": "audit",
        "schema_version": 1,
        "audit_id": secrets.token_hex(8),
        "at": _now(),
        "actor": actor,
        "role": role,
        "via": via,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
    }


async def audit_from_cli(
    bootstrap: str, actor: str, role: str, action: str, target: str, before: Any, after: Any
) -> None:
    """Write one audit record for a CLI write (``tike token``, ``tike rules activate``) and
    wait for the broker's ack; raises if it cannot, and the caller then does not write."""
    record = audit_record(actor, role, action, target, before, after, via="cli")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10000)
    await producer.start()
    try:
        await producer.send_and_wait(topics.AUDIT, orjson.dumps(record), key=actor.encode())
    finally:
        await producer.stop()


class Commands:
    def __init__(self, settings: GatewaySettings, store: Store) -> None:
        self.settings, self.store = settings, store
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._writes: dict[str, collections.deque[float]] = {}

    async def _send(self, topic: str, key: str, value: bytes) -> None:
        try:
            async with self._lock:
                if self._producer is None:
                    producer = AIOKafkaProducer(
                        bootstrap_servers=self.settings.kafka_bootstrap,
                        acks="all",
                        linger_ms=0,
                        # A burst of socket opens or closes logs one access record each: in
                        # 16 KiB batches (aiokafka's default) 5,000 closes at once timed out on
                        # the embedded broker and lost most of their records.
                        max_batch_size=512 * 1024,
                        request_timeout_ms=10000,
                    )
                    await producer.start()
                    self._producer = producer
            await self._producer.send_and_wait(topic, value, key=key.encode())
        except (KafkaError, OSError) as exc:
            log.warning("cannot send to %s: %s", topic, exc)  # the address only in the log
            raise CommandError(503, "Kafka is unavailable") from exc
        metrics.EVENTS_OUT.labels(topic).inc()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def _rate_limit(self, who: Principal) -> None:
        """At most TIKE_WRITE_RATE_PER_MIN writes a minute per token (in this process)."""
        now = time.monotonic()
        window = self._writes.setdefault(who.jti, collections.deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.settings.write_rate_per_min:
            metrics.RATE_LIMITED.inc()
            raise CommandError(429, "too many writes with this token; try again in a minute")
        window.append(now)
        if len(self._writes) > 10000:  # forget idle tokens
            for jti in [j for j, w in self._writes.items() if not w or w[-1] <= now - 60]:
                del self._writes[jti]

    async def audit(
        self, who: Principal, action: str, target: str, before: Any, after: Any
    ) -> dict[str, Any]:
        """Every write is audited first, so this is where writes are rate-limited too."""
        self._rate_limit(who)
        record = audit_record(who.sub, who.role, action, target, before, after)
        await self._send(topics.AUDIT, who.sub, orjson.dumps(record))
        return record

    async def access(
        self, who: Principal, action: str, target: str, origin: dict[str, Any]
    ) -> dict[str, Any]:
        """Log one read of client data on ``tike.access`` (who, role, what, when, from
        where) and wait for the broker's ack; CommandError(503) if it cannot be logged, and
        the caller then does not serve the read."""
        record = {
            "kind": "access",
            "schema_version": 1,
            "access_id": secrets.token_hex(8),
            "at": _now(),
            "actor": who.sub,
            "role": who.role,
            "token_id": who.jti,
            "action": action,
            "target": target,
            **origin,
        }
        await self._send(topics.ACCESS, who.sub, orjson.dumps(record))
        metrics.ACCESS_RECORDS.labels(action).inc()
        return record

    async def _once(self, scope: str, key: str | None, send: Any) -> dict[str, Any]:
        """Run ``send(event_id)`` once per ``scope``/``key``; a repeat gets the first answer."""
        key = key or secrets.token_hex(12)
        if not 1 <= len(key) <= 128:
            raise CommandError(422, "idempotency key must be 1-128 characters")
        slot = f"{P}idem:{scope}:{key}"
        event_id = stable_id("gw", scope, key)
        claimed = await self.store.redis.set(slot, b"{}", nx=True, ex=IDEMPOTENCY_TTL_S)
        if not claimed:
            for _ in range(50):  # the first request may still be sending
                prior = await self.store.redis.get(slot)
                if prior and prior != b"{}":
                    return {**orjson.loads(prior), "duplicate": True}
                await asyncio.sleep(0.1)
            raise CommandError(409, f"a request with idempotency key {key!r} is in progress")
        try:
            result: dict[str, Any] = await send(event_id)
        except BaseException:
            await self.store.redis.delete(slot)
            raise
        result = {**result, "event_id": event_id, "idempotency_key": key}
        await self.store.redis.set(slot, orjson.dumps(result), ex=IDEMPOTENCY_TTL_S)
        return {**result, "duplicate": False}

    async def _submit(
        self,
        who: Principal,
        model: type[Any],
        fields: dict[str, Any],
        audit_action: str,
        target: str,
        before: Any,
        topic: str,
        key: str,
    ) -> Any:
        """Validate an input event, audit it, and produce it."""
        try:
            event = model(occurred_at=datetime.now(UTC), source="tike-gateway", **fields)
        except ValidationError as exc:
            raise CommandError(422, _errors(exc)) from exc
        action = getattr(event, "action", None) or getattr(event, "command", "")
        logs.bind_from(event.model_dump(include=set(logs.CORRELATION_IDS)))
        log.info("%s %s by %s (%s)", audit_action, action, who.sub, who.role)
        await self.audit(
            who, f"{audit_action}.{action}", target, before, event.model_dump(mode="json")
        )
        await self._send(topic, key, event.model_dump_json().encode())
        return event

    async def team_action(
        self,
        who: Principal,
        team_id: str,
        dispatch_id: str,
        body: dict[str, Any],
        key: str | None,
    ) -> dict[str, Any]:
        if not who.can_team(team_id):
            raise CommandError(403, f"{who.role} may not act for team {team_id}")
        dispatch = await self.store.dispatch(team_id, dispatch_id)
        if dispatch is None:
            raise CommandError(404, f"team {team_id} has no active dispatch {dispatch_id}")
        before = {k: dispatch.get(k) for k in ("status", "business_status", "version")}

        async def send(event_id: str) -> dict[str, Any]:
            fields = {
                "event_id": event_id,
                "team_id": team_id,
                "dispatch_id": dispatch_id,
                "region": dispatch["region"],
                "action": body.get("action"),
                "reason": body.get("reason"),
                "outcome": body.get("outcome"),
            }
            event = await self._submit(
                who, TeamEvent, fields, "team", dispatch_id, before, topics.TEAM_EVENTS, team_id
            )
            return {"status": "sent", "dispatch_id": dispatch_id, "action": event.action.value}

        return await self._once(f"team:{team_id}", key, send)

    async def control_action(
        self, who: Principal, need_id: str, body: dict[str, Any], key: str | None
    ) -> dict[str, Any]:
        if not who.can("control_room"):
            raise CommandError(403, f"{who.role} may not act on needs")
        need = await self.store.find_need(need_id)
        if need is None:
            raise CommandError(404, f"no need {need_id} on the board")
        data = need.get("data") or {}
        before = {k: data.get(k) for k in ("status", "phase", "owner", "team_id", "alert")}

        async def send(event_id: str) -> dict[str, Any]:
            fields = {
                "event_id": event_id,
                "region": need["region"],
                "need_id": need_id,
                "command": body.get("command"),
                "actor": who.sub,
                "actor_role": who.role,
                "reason": body.get("reason"),
                "team_id": body.get("team_id"),
                "outcome": body.get("outcome"),
            }
            event = await self._submit(
                who, ControlAction, fields, "need", need_id, before, topics.CONTROL, need_id
            )
            return {"status": "sent", "need_id": need_id, "command": event.command.value}

        return await self._once(f"control:{who.sub}", key, send)
