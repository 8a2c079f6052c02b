"""Whether any gateway holds the board projection's lease (gateway/board_projection.py),
as this process sees it: for ``/healthz`` and ``tike_gateway_projection_down``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.store import LEASE

log = logging.getLogger(__name__)


class LeaseWatch:
    """Whether any gateway projects, as this process sees it: the lease was held by some
    process within the last ``lease_s``. Independent of this process's own projector, so a
    projector that stopped (or a fleet without one) shows in ``/healthz`` and in
    ``tike_gateway_projection_down``, and is logged once when it starts and once when it ends.
    """

    def __init__(self, redis: aioredis.Redis, lease_s: float) -> None:
        self.redis, self.lease_s = redis, lease_s
        self.seen_at = time.monotonic()  # a process just started has not seen it yet
        self.down = False

    def saw(self, held: bool, now: float | None = None) -> float:
        """Record one look at the lease; the seconds since it was last seen held."""
        now = time.monotonic() if now is None else now
        if held:
            self.seen_at = now
        missing = max(0.0, now - self.seen_at)
        down = missing > self.lease_s
        if down != self.down:
            self.down = down
            metrics.PROJECTION_DOWN.set(1 if down else 0)
            if down:
                log.error(
                    "no gateway has held the projection lease for %.1f s: nothing projects "
                    "Kafka into Redis and the board is frozen",
                    missing,
                )
            else:
                log.info("a gateway holds the projection lease again")
        return missing

    async def check(self) -> float:
        """Look at the lease in Redis; the seconds since it was last seen held. If Redis does
        not answer, the lease counts as not seen, and the error is raised."""
        try:
            held = await self.redis.pttl(LEASE) != -2  # -2: no such key
        except (RedisError, OSError):
            self.saw(False)
            raise
        return self.saw(held)

    async def run(self) -> None:
        """Forever: look every third of the lease period."""
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self.check()
            await asyncio.sleep(self.lease_s / 3)
