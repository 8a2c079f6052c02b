"""The Redis projection: layout, the atomic apply script, and the reads the gateway serves.

Layout (prefix ``tike:``; standalone Redis, the script builds key names):

- ``epoch``: id of the current projection. A Redis that lost its data has none, and every
  reader that sees a new epoch starts over from a snapshot.
- ``offsets``: ``topic:partition`` -> next Kafka offset to project. Written by the same
  script that applies the records, so the projection is exactly-once into Redis.
- ``board:{region}:need``, ``:team``, ``:kpi``, ``:notice``: id -> latest board delta (JSON);
  ``board:{region}:v`` versions, ``board:{region}:seq`` a counter, ``board:{region}:stream``
  the deltas, each with stream id ``<seq>-1`` (MAXLEN-trimmed) for replay. ``regions``: the
  regions seen.
- ``team:{team}``: dispatch id -> the dispatch while it is active; ``team:{team}:v``,
  ``:seq`` and ``:stream`` as for the board (offers, updates and refusals).
  ``team:{team}:refusal``: dispatch id -> the latest refusal of an action on that active
  dispatch, until the dispatch moves on (a newer version of it is applied, which deletes the
  field). A refusal older than the dispatch's ``updated_at`` (a replayed record) or than the
  refusal already kept is ignored, so applying a record twice changes nothing.
Region and team ids in key names follow the one entity-id pattern (``tike.events``: letters,
digits, ``.``, ``_``, ``-``; never ``:``), so no id can name another id's key (``team:T1:v``
is team ``T1``'s versions and nothing else). :func:`board_key` and :func:`team_key` refuse
any other id, and the apply script skips an item whose id does not match, so a poison record
cannot make it fail half-way (a Lua error keeps the writes before it) and retry for ever.

- ``devices``: device id -> latest device health. ``deadletter``: reason -> count, and
  ``deadletter:recent`` (stream). ``audit``: the audit log (stream, from ``tike.audit``).

Not part of the projection (kept when it is rebuilt): ``token:{jti}`` records every issued
token's subject, role and expiry until it expires; ``revoked:{jti}`` marks a revoked token
until it would have expired (plus a minute), and ``revoked`` (sorted set, jti -> that same
time) lets a gateway process load every revoked id with one read.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from tike.events import entity_id

P = "tike:"
EPOCH = P + "epoch"
OFFSETS = P + "offsets"
REGIONS = P + "regions"
DEVICES = P + "devices"
DEADLETTER = P + "deadletter"
AUDIT = P + "audit"
LEASE = P + "projector:lease"
REVOKED = P + "revoked"
REVOKED_GRACE_S = 60
TOKENS = P + "token"
ENTITIES = ("need", "team", "kpi", "notice")
PROJECTION_PATTERNS = ("board:*", "team:*", "offsets", "regions", "devices", "deadletter*", "audit")

#: ARGV: epoch, offsets field, next offset, board maxlen, team maxlen, then items of 6:
#: kind, a, b, version, op, payload. Returns -1 on a foreign epoch, else records applied.
APPLY = """
local P = 'tike:'
if redis.call('GET', P..'epoch') ~= ARGV[1] then return -1 end
local applied = 0
local function versioned(base, hash, field, ver, op, payload, keep, maxlen)
  local cur = tonumber(redis.call('HGET', base..':v', field) or '-1')
  if tonumber(ver) <= cur then return false end
  if keep then
    redis.call('HSET', hash, field, payload)
  else
    redis.call('HDEL', hash, field)
  end
  redis.call('HSET', base..':v', field, ver)
  local seq = redis.call('INCR', base..':seq')
  redis.call('XADD', base..':stream', 'MAXLEN', '~', maxlen, seq..'-1', 'd', payload)
  applied = applied + 1
  return true
end
-- A refusal of an action on an active dispatch stays in the team's snapshot until the
-- dispatch moves on; one older than the dispatch or the kept refusal is a replay.
local function refusal(base, field, payload)
  local dispatch = redis.call('HGET', base, field)
  if not dispatch then return end
  local at = cjson.decode(payload)['at']
  if type(at) ~= 'string' or at < (cjson.decode(dispatch)['updated_at'] or '') then return end
  local kept = redis.call('HGET', base..':refusal', field)
  if kept and at < cjson.decode(kept)['at'] then return end
  redis.call('HSET', base..':refusal', field, payload)
end
-- Region and team ids become part of key names: only the entity-id pattern is allowed.
local function id_ok(s)
  return #s >= 1 and #s <= 64 and string.find(s, '^[%w][%w%._%-]*$') ~= nil
end
local i = 6
while i + 5 <= #ARGV do
  local kind, a, b = ARGV[i], ARGV[i+1], ARGV[i+2]
  local ver, op, payload = ARGV[i+3], ARGV[i+4], ARGV[i+5]
  i = i + 6
  if (kind == 'board' or kind == 'dispatch' or kind == 'note') and not id_ok(a) then
    kind = 'skip'
  end
  if kind == 'board' and not string.match(b, '^([^:]+):(.*)$') then kind = 'skip' end
  if kind == 'skip' then
    redis.call('HINCRBY', P..'deadletter', 'unprojectable', 1)
  elseif kind == 'board' then
    local base = P..'board:'..a
    local entity, id = string.match(b, '^([^:]+):(.*)$')
    versioned(base, base..':'..entity, id, ver, op, payload, op == 'upsert', ARGV[4])
    redis.call('SADD', P..'regions', a)
  elseif kind == 'dispatch' then
    local base = P..'team:'..a
    if versioned(base, base, b, ver, op, payload, op == 'keep', ARGV[5]) then
      redis.call('HDEL', base..':refusal', b)
    end
  elseif kind == 'note' then
    local base = P..'team:'..a
    if b ~= '' then refusal(base, b, payload) end
    local seq = redis.call('INCR', base..':seq')
    redis.call('XADD', base..':stream', 'MAXLEN', '~', ARGV[5], seq..'-1', 'd', payload)
    applied = applied + 1
  elseif kind == 'device' then
    redis.call('HSET', P..'devices', a, payload)
    applied = applied + 1
  elseif kind == 'deadletter' then
    redis.call('HINCRBY', P..'deadletter', a, 1)
    redis.call('XADD', P..'deadletter:recent', 'MAXLEN', '~', 500, '*', 'd', payload)
    applied = applied + 1
  elseif kind == 'audit' then
    redis.call('XADD', P..'audit', 'MAXLEN', '~', 100000, '*', 'd', payload)
    applied = applied + 1
  end
end
local cur = tonumber(redis.call('HGET', P..'offsets', ARGV[2]) or '-1')
if tonumber(ARGV[3]) > cur then redis.call('HSET', P..'offsets', ARGV[2], ARGV[3]) end
return applied
"""


def board_key(region: str) -> str:
    """The key prefix of a region's board; ValueError for an id off the entity-id pattern."""
    return f"{P}board:{entity_id(region, 'region')}"


def team_key(team_id: str) -> str:
    """The key prefix of a team's dispatches; ValueError for an id off the pattern."""
    return f"{P}team:{entity_id(team_id, 'team id')}"


def parse_seq(stream_id: bytes | str) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return int(text.split("-", 1)[0])


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


class Store:
    """Reads and writes of the projection. All methods raise Redis errors to the caller."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._apply = redis.register_script(APPLY)

    async def epoch(self) -> str | None:
        return _text(await self.redis.get(EPOCH))

    async def start_epoch(self, new: str) -> str:
        """The current epoch; a new one (with the old projection cleared) if there is none."""
        current = await self.epoch()
        if current is not None:
            return current
        for pattern in PROJECTION_PATTERNS:
            async for key in self.redis.scan_iter(match=P + pattern, count=500):
                await self.redis.delete(key)
        if await self.redis.set(EPOCH, new, nx=True):
            return new
        return await self.epoch() or new

    async def offsets(self) -> dict[str, int]:
        raw = await self.redis.hgetall(OFFSETS)
        return {_text(k) or "": int(v) for k, v in raw.items()}

    async def apply(
        self,
        epoch: str,
        position: str,
        next_offset: int,
        items: list[tuple[str, ...]],
        board_maxlen: int,
        team_maxlen: int,
    ) -> int:
        argv: list[Any] = [epoch, position, next_offset, board_maxlen, team_maxlen]
        for item in items:
            argv.extend(item)
        return int(await self._apply(args=argv))

    # --- reads --------------------------------------------------------------------------

    async def snapshot(self, base: str) -> tuple[str | None, int, list[dict[str, Any]]]:
        """Epoch, sequence number and every item of a board or a team, consistently.

        A team's items are its active dispatches, then the refusals still standing on them
        (``team:{team}:refusal``)."""
        if base.startswith(P + "board:"):
            hashes = [f"{base}:{e}" for e in ENTITIES]
        else:
            hashes = [base, f"{base}:refusal"]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(EPOCH)
            pipe.get(base + ":seq")
            for key in hashes:
                pipe.hgetall(key)
            epoch, seq, *found = await pipe.execute()
        values = [orjson.loads(v) for items in found for v in items.values()]
        return _text(epoch), int(seq or 0), values

    async def since(
        self, base: str, seq: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]] | None:
        """The stream after ``seq``, or None if part of it is gone (trimmed or reset)."""
        current = int(await self.redis.get(base + ":seq") or 0)
        if seq > current:
            return None
        if seq == current:
            return []
        if current - seq > limit:
            return None
        entries: Any = await self.redis.xrange(base + ":stream", min=f"{seq + 1}-0", count=limit)
        if not entries or parse_seq(entries[0][0]) != seq + 1:
            return None
        return [(parse_seq(eid), orjson.loads(fields[b"d"])) for eid, fields in entries]

    async def regions(self) -> list[str]:
        return sorted(_text(r) or "" for r in await self.redis.smembers(REGIONS))

    async def entities(self, region: str, entity: str) -> list[dict[str, Any]]:
        """Every board delta of one entity kind in a region (one hash, not the whole board)."""
        raw = await self.redis.hgetall(f"{board_key(region)}:{entity}")
        return [orjson.loads(v) for v in raw.values()]

    async def entity(self, region: str, entity: str, entity_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(f"{board_key(region)}:{entity}", entity_id)
        return orjson.loads(raw) if raw else None

    async def find_need(self, need_id: str) -> dict[str, Any] | None:
        for region in await self.regions():
            found = await self.entity(region, "need", need_id)
            if found is not None:
                return found
        return None

    async def dispatch(self, team_id: str, dispatch_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(team_key(team_id), dispatch_id)
        return orjson.loads(raw) if raw else None

    async def devices(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for v in (await self.redis.hgetall(DEVICES)).values()]

    async def deadletters(self) -> dict[str, int]:
        return {_text(k) or "": int(v) for k, v in (await self.redis.hgetall(DEADLETTER)).items()}

    async def audit(self, limit: int) -> list[dict[str, Any]]:
        entries: Any = await self.redis.xrevrange(AUDIT, count=limit)
        return [orjson.loads(fields[b"d"]) for _, fields in entries]

    # --- revoked tokens -----------------------------------------------------------------

    async def record_token(self, jti: str, sub: str, role: str, exp: int) -> None:
        """Remember an issued token's id, subject, role and expiry until it expires (plus a
        minute): a revocation then lasts exactly as long as the token would."""
        ttl = max(1, int(exp - time.time()) + REVOKED_GRACE_S)
        doc = orjson.dumps({"sub": sub, "role": role, "exp": exp})
        await self.redis.set(f"{TOKENS}:{jti}", doc, ex=ttl)

    async def token_expiry(self, jti: str) -> int | None:
        """The recorded expiry of an issued token; None if it was never recorded (or is gone)."""
        raw = await self.redis.get(f"{TOKENS}:{jti}")
        return int(orjson.loads(raw)["exp"]) if raw else None

    async def revoke(self, jti: str, exp: float) -> None:
        """Remember ``jti`` as revoked until the token would have expired (plus a minute)."""
        now = time.time()
        until = max(now + 1, exp + REVOKED_GRACE_S)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{REVOKED}:{jti}", b"1", ex=max(1, int(until - now)))
            pipe.zadd(REVOKED, {jti: until})
            pipe.zremrangebyscore(REVOKED, "-inf", now)  # forget the expired ones
            await pipe.execute()

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self.redis.exists(f"{REVOKED}:{jti}"))

    async def revoked_ids(self) -> set[str]:
        """Every token id revoked and not yet expired (one read, whatever the number of
        sockets)."""
        found: Any = await self.redis.zrangebyscore(REVOKED, time.time(), "+inf")
        return {_text(jti) or "" for jti in found}
