"""Does a consumer reading a partition while it is written see every record?

    .venv/bin/python bench/broker_race.py [--producers 3] [--records 6000] [--runs 3]

Starts its own embedded broker. Each run writes ``--records`` to a new one-partition topic
from ``--producers`` concurrent aiokafka producers (one record per produce request) while one
consumer reads it from the beginning; then a second consumer reads the whole partition again.
Prints, per run, the offsets the first reader never saw and whether the second one finds
them (docs/embedded.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tike_cli.harness import start_broker


async def read_all(bootstrap: str, tp: TopicPartition, total: int, out: list[int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=5
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for _ in range(3000):
            batch = await consumer.getmany(tp, timeout_ms=300)
            out.extend(m.offset for m in batch.get(tp, []))
            if await consumer.position(tp) >= total:
                return
    finally:
        await consumer.stop()


async def one_run(bootstrap: str, topic: str, producers: int, total: int) -> tuple[list[int], bool]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    tp = TopicPartition(topic, 0)

    async def produce(k: int) -> None:
        prod = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=0, max_batch_size=1
        )
        await prod.start()
        for i in range(total // producers):
            await prod.send(topic, f"{k}-{i}".encode())
            if i % 50 == 0:
                await asyncio.sleep(0)
        await prod.flush()
        await prod.stop()

    first: list[int] = []
    reader = asyncio.create_task(read_all(bootstrap, tp, total, first))
    await asyncio.gather(*(produce(k) for k in range(producers)))
    await asyncio.wait_for(reader, 60)
    again: list[int] = []
    await read_all(bootstrap, tp, total, again)
    missed = sorted(set(range(total)) - set(first))
    return missed, set(missed) <= set(again)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--producers", type=int, default=3)
    parser.add_argument("--records", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    total = args.records - args.records % args.producers
    with tempfile.TemporaryDirectory() as tmp:
        child, bootstrap = start_broker(Path(tmp))
        try:
            for run in range(1, args.runs + 1):
                missed, found = asyncio.run(
                    one_run(bootstrap, f"race-{run}", args.producers, total)
                )
                print(
                    f"run {run}: {args.producers} producers, {total} records: live reader "
                    f"missed {len(missed)} {missed[:10]}; re-read has them: {found}"
                )
        finally:
            child.stop()


if __name__ == "__main__":
    main()
