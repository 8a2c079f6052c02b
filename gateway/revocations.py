"""Revoked tokens, as one gateway process knows them.

One background task per process reloads the revoked token ids from Redis every
``TIKE_WS_AUTH_CHECK_S`` (one read, however many sockets are open), and wakes the sockets
whose token is among them. A socket costs nothing between reloads: it waits on an event that
is set when its token id turns up, or times out when the token expires.

A failed reload keeps the ids known before (open sockets stay open, as they did when a
per-socket check failed); it is logged and counted. New sockets and REST requests check Redis
directly (see ``Store.is_revoked``), so a token revoked a moment ago cannot open a socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from redis.exceptions import RedisError

from gateway import metrics
from gateway.store import Store

log = logging.getLogger(__name__)


class Revocations:
    def __init__(self, store: Store, interval_s: float) -> None:
        self.store, self.interval_s = store, interval_s
        self.ids: frozenset[str] = frozenset()
        self._watched: dict[str, tuple[asyncio.Event, int]] = {}
        self._failing = False

    def watch(self, jti: str) -> asyncio.Event:
        """An event set when ``jti`` is (or turns out to be) revoked; :meth:`unwatch` it."""
        event, count = self._watched.get(jti) or (asyncio.Event(), 0)
        self._watched[jti] = (event, count + 1)
        if jti in self.ids:
            event.set()
        return event

    def unwatch(self, jti: str) -> None:
        event, count = self._watched.pop(jti, (None, 0))
        if event is not None and count > 1:
            self._watched[jti] = (event, count - 1)

    @property
    def watched(self) -> int:
        """Distinct token ids of open sockets."""
        return len(self._watched)

    def update(self, ids: Iterable[str]) -> None:
        """Replace the known revoked ids and wake the sockets that use one of them."""
        self.ids = frozenset(ids)
        for jti in self.ids.intersection(self._watched):
            self._watched[jti][0].set()

    async def refresh(self) -> None:
        self.update(await self.store.revoked_ids())

    async def run(self) -> None:
        """Forever: reload every ``interval_s``. Redis errors are logged and retried."""
        while True:
            try:
                await self.refresh()
                if self._failing:
                    log.info("revoked tokens reloaded again (%d known)", len(self.ids))
                    self._failing = False
            except (RedisError, OSError) as exc:
                metrics.REVOCATION_REFRESH_ERRORS.inc()
                if not self._failing:
                    log.warning(
                        "cannot reload revoked tokens: %s; open sockets are checked against "
                        "the %d ids known before until Redis answers",
                        exc,
                        len(self.ids),
                    )
                    self._failing = True
            await asyncio.sleep(self.interval_s)
