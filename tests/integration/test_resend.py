"""A worker that journaled a record but died before its outputs were delivered: the next
owner of the partition sends those outputs again on rebuild, and a need already published is
not published twice (tike_core.situation.resend)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest

from tests.integration.conftest import Send
from tike import topics
from tike.examples import example
from tike_cli.harness import Collector, Worker, producer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def publishes(record: dict[str, Any], need_id: str) -> bool:
    return any(
        o["topic"] == topics.NEEDS and o["value"]["need_id"] == need_id for o in record["outputs"]
    )


async def test_outputs_journaled_before_a_crash_are_sent_again_once(
    broker: str, worker: Worker, send: Send
) -> None:
    needs = await Collector(broker, topics.NEEDS).start()
    board = await Collector(broker, topics.BOARD).start()
    journal = await Collector(broker, topics.JOURNAL).start()
    try:
        alarm = orjson.loads(example("safety_alarm").model_dump_json())
        await send(topics.ALARMS, alarm)
        first = (
            await needs.wait(lambda n: n["origin"]["event_id"] == alarm["event_id"], timeout=30)
        ).json()["need_id"]
        found = await journal.wait(lambda r: publishes(r, first), timeout=10)
        worker.stop()  # a clean stop: the input offsets are committed

        # What a worker SIGKILLed between queueing a journal record and its outputs leaves:
        # journal records of inputs past the committed offset, outputs never delivered.
        lost_id = "need-resend-lost"
        cause = found.json()["cause"]
        lost = orjson.loads(found.value.replace(first.encode(), lost_id.encode()))
        lost["cause"] = {**cause, "offset": cause["offset"] + 1000}
        # A later record that lists the already published need again (and nothing else).
        again = {
            **found.json(),
            "cause": {**cause, "offset": cause["offset"] + 1001},
            "outputs": [o for o in found.json()["outputs"] if o["topic"] == topics.NEEDS],
        }
        prod = await producer(broker)
        try:
            for record in (lost, again):
                await prod.send_and_wait(
                    topics.JOURNAL, orjson.dumps(record), key=found.key, partition=found.partition
                )
        finally:
            await prod.stop()

        worker.start()
        await needs.wait(lambda n: n["need_id"] == lost_id, timeout=30)
        await board.wait(lambda d: d.get("entity") == "need" and d["id"] == lost_id, timeout=10)
        await asyncio.sleep(1)  # the rebuild sends all at once: let a wrong copy show
        counts = Counter(n["need_id"] for n in needs.matching(lambda n: True))
        assert counts[lost_id] == 1
        assert counts[first] == 1, "a need already on tike.needs was published again"
        assert worker.metric("tike_resent_outputs_total") >= 2  # the lost need and its delta
        # The committed input's record is not sent again: its board delta is there once.
        version = next(
            o["value"]["version"]
            for o in found.json()["outputs"]
            if o["value"].get("entity") == "need" and o["value"]["id"] == first
        )
        copies = board.matching(lambda d: d.get("id") == first and d["version"] == version)
        assert len(copies) == 1, copies
    finally:
        for c in (needs, board, journal):
            await c.stop()
