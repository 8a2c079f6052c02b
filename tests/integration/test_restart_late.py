"""SIGKILL while the situation agent is mid-stream: every need still reaches tike.needs and
the board, and none is offered twice.

This is the case that exposed faust-streaming 0.15.3 dropping records fetched around the
post-rebalance seek (streams/transport.py explains it and the fix).
"""

from __future__ import annotations

import pytest

from tests.integration.test_restart import kill_scenario, worker_extra  # noqa: F401
from tike_cli.harness import Worker

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_sigkill_during_dispatch_loses_no_need(broker: str, worker: Worker) -> None:
    await kill_scenario(broker, worker, late=True)
