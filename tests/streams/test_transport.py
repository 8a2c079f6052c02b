"""The worker consumer (streams/transport.py on streams/compat.py) against Faust's own commit
bookkeeping: it commits only from an unbroken run of processed records, and its
acknowledgements keep Faust's semantics. No broker: the consumer object is built but never
started. (The decisions alone: tests/streams/test_offsets.py.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import Message, ack_lock

from streams.app import create_app
from streams.transport import _Consumer
from tike.settings import WorkerSettings

TP0 = TP("tike.in.alarms", 0)


@pytest.fixture
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Consumer]:
    settings = WorkerSettings(
        kafka_bootstrap="127.0.0.1:9", state_dir=tmp_path_factory.mktemp("state")
    )
    app = create_app(settings)
    app.topics.acking_topics.add(TP0.topic)  # done when the conductor starts
    consumer = app.consumer
    assert isinstance(consumer, _Consumer)
    yield consumer


def test_a_record_missing_at_the_committed_offset_blocks_the_commit(consumer: _Consumer) -> None:
    consumer._committed_offset[TP0] = 10  # the next offset to read
    consumer._acked[TP0] = [11, 12]  # 10 was dropped before it was processed
    assert consumer._new_offset(TP0) is None
    # Faust itself would commit past 10 here: the defect this override closes.
    consumer._acked[TP0] = [11, 12]
    assert faust_aiokafka.Consumer._new_offset(consumer, TP0) == 13


def test_an_unbroken_run_from_the_committed_offset_is_committed(consumer: _Consumer) -> None:
    consumer._committed_offset[TP0] = 10
    consumer._acked[TP0] = [12, 10, 11]
    assert consumer._new_offset(TP0) == 13


def test_the_hole_is_committed_over_once_it_is_processed(consumer: _Consumer) -> None:
    consumer._committed_offset[TP0] = 10
    consumer._acked[TP0] = [11, 12]
    assert consumer._new_offset(TP0) is None
    assert consumer.book.hole(TP0) == 10  # to be fetched again if it stays open
    consumer._acked[TP0].append(10)  # the record came again and was processed
    assert consumer._new_offset(TP0) == 13
    assert not consumer.book.has_hole(TP0)


def test_without_a_committed_offset_the_run_starts_at_the_seek(consumer: _Consumer) -> None:
    # Nothing committed yet: the last seek put the partition at its log start, 0.
    consumer._sought({TP0: 0})
    consumer._acked[TP0] = [3, 4]
    assert consumer._new_offset(TP0) is None
    consumer._acked[TP0] = [0, 1, 2, 3, 4]
    assert consumer._new_offset(TP0) == 5


def test_known_gaps_count_as_processed(consumer: _Consumer) -> None:
    # Offsets 10 and 11 hold nothing to process (compacted away, or a control marker).
    consumer._committed_offset[TP0] = 10
    asyncio.run(consumer._add_gap(TP0, 10, 11))
    consumer._acked[TP0] = [12, 13]
    assert consumer._new_offset(TP0) == 14


def test_a_gap_that_leaves_part_of_the_hole_open_does_not_commit(consumer: _Consumer) -> None:
    consumer._committed_offset[TP0] = 10
    asyncio.run(consumer._add_gap(TP0, 11, 11))
    consumer._acked[TP0] = [12, 13]
    assert consumer._new_offset(TP0) is None


def test_gaps_are_clipped_at_the_committed_offset_not_one_past_it(consumer: _Consumer) -> None:
    consumer._committed_offset[TP0] = 10
    asyncio.run(consumer._add_gap(TP0, 5, 12))
    intervals = sorted((i.begin, i.end) for i in consumer._gap[TP0])
    assert intervals == [(10, 13)]


def _message(offset: int, generation: int) -> Message:
    return Message(
        TP0.topic,
        TP0.partition,
        offset,
        0.0,
        0,
        None,
        b"k",
        b"v",
        None,
        tp=TP0,
        generation_id=generation,
    )


def test_a_record_a_stream_skipped_during_a_rebalance_is_fetched_again(
    consumer: _Consumer,
) -> None:
    app = consumer.app
    app.flow_control.resume()
    app.consumer_generation_id = 2
    consumer._committed_offset[TP0] = 10
    assert consumer.ack(_message(10, 2))  # processed in this generation: counts
    # Taken from a buffer filled in the previous generation: Faust skips it, then acks it.
    assert not consumer.ack(_message(11, 1))
    app.flow_control.suspend()  # a rebalance began: whatever is acked now was skipped
    assert not consumer.ack(_message(12, 2))
    assert consumer._acked[TP0] == [10]
    assert [(r.tp, r.offset) for r in consumer.book.refetches({TP0})] == [(TP0, 11)]
    assert consumer._new_offset(TP0) == 11  # never past the skipped record


def test_an_ack_counts_once(consumer: _Consumer) -> None:
    consumer.app.flow_control.resume()
    message = _message(0, consumer.app.consumer_generation_id)
    assert consumer.ack(message)
    assert not consumer.ack(message)
    assert consumer._acked[TP0] == [0]


def test_a_hole_below_the_log_start_becomes_a_gap(consumer: _Consumer) -> None:
    # Retention deleted 10-49 before they were processed: fetching 10 again resets to 50.
    consumer._committed_offset[TP0] = 10
    consumer.book.hold(TP0, 10, [11], [], now=0.0)
    assert consumer._expired(TP0, 10, start=50)
    assert not consumer.book.has_hole(TP0)
    consumer._acked[TP0] = [50, 51]
    assert consumer._new_offset(TP0) == 52


def test_a_hole_inside_the_log_is_fetched_again_not_skipped(consumer: _Consumer) -> None:
    consumer._committed_offset[TP0] = 10
    consumer.book.hold(TP0, 10, [11], [], now=0.0)
    assert not consumer._expired(TP0, 10, start=0)
    assert not consumer._expired(TP0, 10, start=None)  # the log start could not be read
    consumer._acked[TP0] = [11, 12]
    assert consumer._new_offset(TP0) is None


def test_an_acknowledgement_of_a_record_let_go_unprocessed_does_not_count(
    consumer: _Consumer,
) -> None:
    # The situation agent skipped offset 10 as stale during a rebalance, and Faust's compiled
    # iterator acknowledged it (straight into the bookkeeping, not through ack()).
    consumer._committed_offset[TP0] = 10
    consumer.unprocessed(TP0, 10)
    consumer._acked[TP0] = [10, 11]
    consumer._acked_index[TP0] = {10, 11}
    assert consumer._new_offset(TP0) is None  # the commit waits for 10
    assert consumer._acked[TP0] == [11]
    # 10 comes again, is processed and acknowledged: now it counts.
    consumer._acked[TP0].append(10)
    consumer._acked_index[TP0].add(10)
    assert consumer._new_offset(TP0) == 12


def test_a_record_let_go_before_its_acknowledgement_arrives_still_holds_the_commit(
    consumer: _Consumer,
) -> None:
    consumer._committed_offset[TP0] = 10
    consumer.unprocessed(TP0, 10)
    consumer._acked[TP0] = [11]
    consumer._acked_index[TP0] = {11}
    assert consumer._new_offset(TP0) is None
    consumer._acked[TP0].append(10)  # the iterator's acknowledgement, late
    consumer._acked_index[TP0].add(10)
    assert consumer._new_offset(TP0) is None


def test_a_hole_another_owner_committed_past_is_dropped_not_a_crash(consumer: _Consumer) -> None:
    # The hole was at 10; meanwhile the partition was committed to 60, past the log start 50.
    consumer._committed_offset[TP0] = 60
    consumer.book.hold(TP0, 10, [11], [], now=0.0)
    assert consumer._expired(TP0, 10, start=50)
    assert not consumer.book.has_hole(TP0)
    assert not consumer._gap[TP0]


def test_a_record_let_go_below_the_committed_offset_is_forgotten(consumer: _Consumer) -> None:
    consumer.unprocessed(TP0, 3)  # its acknowledgement was refused: 3 < committed
    consumer._committed_offset[TP0] = 10
    consumer._acked[TP0] = [10]
    consumer._acked_index[TP0] = {10}
    assert consumer._new_offset(TP0) == 11
    assert not consumer.book.letting_go(TP0)


def test_faust_s_new_offset_step_is_the_adapter_s(consumer: _Consumer) -> None:
    consumer._committed_offset[TP0] = 10
    consumer._acked[TP0] = [11, 12]
    assert consumer._new_offset(TP0) is None


# Faust's ack() semantics (faust/transport/consumer.py, Consumer.ack): one step under
# ack_lock, and whoever waits for acknowledgements (wait_empty) is woken.


def _waiter(consumer: _Consumer) -> asyncio.Future[None]:
    loop = asyncio.new_event_loop()
    future: asyncio.Future[None] = loop.create_future()
    loop.close()  # nothing waits on it here; notify() only sets its result
    consumer._waiting_for_ack = future
    return future


def test_an_acknowledgement_that_counts_wakes_the_waiter(consumer: _Consumer) -> None:
    consumer.app.flow_control.resume()
    waiter = _waiter(consumer)
    assert consumer.ack(_message(0, consumer.app.consumer_generation_id))
    assert waiter.done()


def test_a_refused_acknowledgement_wakes_the_waiter_and_is_no_longer_pending(
    consumer: _Consumer,
) -> None:
    consumer.app.flow_control.suspend()
    message = _message(5, consumer.app.consumer_generation_id)
    consumer._unacked_messages.add(message)
    waiter = _waiter(consumer)
    assert not consumer.ack(message)
    assert waiter.done()
    assert message.acked and message not in consumer._unacked_messages


def _blocked_while_ack_lock_is_held(step: object) -> bool:
    """True when ``step()`` waits for ``ack_lock`` held by another thread."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ack_lock:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    runner = threading.Thread(target=step)  # type: ignore[arg-type]
    runner.start()
    runner.join(0.2)
    blocked = runner.is_alive()
    release.set()
    runner.join(5)
    holder.join(5)
    return blocked


def test_every_ack_path_takes_the_ack_lock(consumer: _Consumer) -> None:
    app = consumer.app
    app.flow_control.resume()
    assert _blocked_while_ack_lock_is_held(
        lambda: consumer.ack(_message(1, app.consumer_generation_id))
    )
    assert _blocked_while_ack_lock_is_held(lambda: consumer.ack(_message(2, -1)))  # refused
    consumer._committed_offset[TP0] = 0
    consumer.unprocessed(TP0, 3)
    consumer._acked[TP0].append(3)
    consumer._acked_index[TP0].add(3)
    assert _blocked_while_ack_lock_is_held(lambda: consumer.next_commit(TP0))  # strike
    assert 3 not in consumer._acked_index[TP0]
