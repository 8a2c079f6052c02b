"""The floor of the fixed stack: a plain Faust app with Tike's hops and records per alarm, and
no Tike code, against the bare aiokafka loop, on the same broker, in the same run.

    .venv/bin/python bench/faust_floor.py [--events 5000]

The app has two agents, as Tike's worker has on an alarm's way to its decision: the first
consumes the alarm, decodes it and sends one record on (Tike: the need on ``tike.intake``);
the second consumes that, decodes it and sends four (Tike: the journal record, the need, the
board delta, the decision). It uses Faust as Tike does: raw serializers, the app's producer
directly, Tike's producer batching, stream buffer and 5 ms fetch wait. What it reaches bounds
what Tike can reach with Faust on this machine; ``bench/pipeline_ratio.py`` measures Tike.
Prints JSON: events/s of the bare loop and of the Faust floor, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IN, MID = "floor.in", "floor.mid"
OUTS = ("floor.journal", "floor.need", "floor.board", "floor.decision")


def build_app(bootstrap: str, datadir: str) -> object:
    import faust
    from faust.transport.drivers import aiokafka as faust_aiokafka

    # The one change a Faust app needs on this broker, which holds a fetch for the whole
    # wait: Faust's hard-coded 1,500 ms fetch wait becomes Tike's 5 ms (streams/compat.py).
    class Thread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: object) -> object:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = 5
            return consumer

    class FloorConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> Thread:
            return Thread(self, loop=self.loop, beacon=self.beacon)

    class Transport(faust_aiokafka.Transport):
        Consumer = FloorConsumer

    class App(faust.App):
        def _new_transport(self) -> object:
            return Transport(self.conf.broker_consumer, self)

    if os.environ.get("FLOOR_SEAM"):  # Tike's consumer seam instead (streams/transport.py)
        from streams.app import TikeApp
        from streams.fetch_wait import FetchWait

        TikeApp.tike_fetch_wait = FetchWait(hot_ms=5, idle_ms=150)
        App = TikeApp  # type: ignore[misc,assignment]

    settings = {
        "broker": f"kafka://{bootstrap}",
        "store": "memory://",
        "web_enabled": False,
        "datadir": datadir,
        "topic_partitions": 2,
        "consumer_auto_offset_reset": "earliest",
        "producer_linger": 0.001,
        "producer_max_batch_size": 512 * 1024,
        "producer_acks": -1,
        "stream_buffer_maxsize": 1024,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    app = App("tike-floor", **settings)
    raw = {"key_type": bytes, "value_type": bytes}
    source, middle = app.topic(IN, **raw), app.topic(MID, **raw)

    @app.agent(source)
    async def hop1(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            doc = orjson.loads(event.message.value)
            await app.producer.send(MID, b"region", orjson.dumps(doc), None, None, None)

    @app.agent(middle)
    async def hop2(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            doc = orjson.loads(event.message.value)
            for topic in OUTS:
                await app.producer.send(topic, b"region", orjson.dumps(doc), None, None, None)

    return app


async def measure(bootstrap: str, n: int, logs: Path) -> dict[str, object]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from bench.pipeline_ratio import BARE_IN, BARE_OUT, alarms, bare_seconds, produce, wait_count
    from simulators.collect import Collector

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    names = [BARE_IN, BARE_OUT, IN, MID, *OUTS]
    await admin.create_topics([NewTopic(t, 1 if t.startswith("bench") else 2, 1) for t in names])
    await admin.close()
    values = alarms(n)
    bare_s = await bare_seconds(bootstrap, values)

    env = dict(os.environ, FLOOR_BOOTSTRAP=bootstrap, FLOOR_DATADIR=tempfile.mkdtemp())
    argv = [sys.executable, __file__, "worker", "-l", "warn"]
    with (logs / "floor-worker.log").open("ab") as log:
        worker = subprocess.Popen(argv, env=env, stdout=log, stderr=log)  # noqa: ASYNC220
    try:
        decisions = await Collector(bootstrap, OUTS[-1]).start()
        # Timed from when the worker has decided a first alarm: it has joined its group.
        await produce(bootstrap, IN, values[:1])
        await wait_count(decisions, 1, 120)
        started = time.monotonic()
        await produce(bootstrap, IN, values)
        floor_s = await wait_count(decisions, n + 1, 300) - started
        await decisions.stop()
    finally:
        worker.terminate()
        worker.wait(20)
    return {
        "events": n,
        "bare_events_per_s": round(n / bare_s, 1),
        "faust_floor_events_per_s": round(n / floor_s, 1),
        "ratio_floor_to_bare": round(bare_s / floor_s, 3),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        app = build_app(os.environ["FLOOR_BOOTSTRAP"], os.environ["FLOOR_DATADIR"])
        app.main()  # type: ignore[attr-defined]
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    from tike_cli.harness import start_broker

    logs = Path(tempfile.mkdtemp(prefix="tike-floor-"))
    broker, bootstrap = start_broker(logs)
    try:
        print(json.dumps(asyncio.run(measure(bootstrap, args.events, logs)), indent=2))
        print(f"logs: {logs}", file=sys.stderr)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
