"""Run the stream worker: create topics, start metrics, run Faust until stopped."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

import faust
from prometheus_client import start_http_server

from streams import compat, metrics
from streams.app import create_app
from streams.kafka_admin import ensure_topics, wait_for_broker
from tike import logs
from tike.settings import WorkerSettings

log = logging.getLogger("tike.worker")


def run(settings: WorkerSettings) -> int:
    """Block running the worker; return its exit code."""
    refused = compat.check_versions(settings.allow_unverified_libraries)
    if refused:
        print(f"tike worker: {refused}", file=sys.stderr)
        return 2
    entered = time.time()  # the imports are done; logged once logging is set up
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(wait_for_broker(settings.kafka_bootstrap, timeout=60))
        answered = time.time()
        created = loop.run_until_complete(
            ensure_topics(
                settings.kafka_bootstrap, settings.topic_partitions, settings.topic_replication
            )
        )
    except (TimeoutError, ConnectionError) as exc:
        print(f"tike worker: {exc} (TIKE_KAFKA_BOOTSTRAP)", file=sys.stderr)
        return 2
    ensured = time.time()
    if created:
        log.info("created topics: %s", ", ".join(created))
    metrics.watch_gc()
    if settings.metrics_port:
        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            print(
                f"tike worker: cannot serve metrics on port {settings.metrics_port}: {exc}; "
                "move it with TIKE_METRICS_PORT=<port> (0 disables)",
                file=sys.stderr,
            )
            return 2
    app = create_app(settings)
    built = time.time()

    @app.task
    async def _mark_up() -> None:
        log.info(
            "start path: entered at %.3f (epoch s); broker answered %.3f s, topics %.3f s, "
            "app built %.3f s later",
            entered,
            answered - entered,
            ensured - answered,
            built - ensured,
        )
        metrics.WORKER_UP.set(1)
        app.watchdog.beat()
        app.watchdog.start_thread()
        log.info("tike worker ready")

    def _stopping(sender: Any, *args: Any, **kwargs: Any) -> None:
        app_watchdog.stopping = True

    app.on_before_shutdown.connect(_stopping)  # type: ignore[arg-type]

    app_watchdog = app.watchdog
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        logging_config=logs.config(settings.log_level, settings.log_format),
        loop=loop,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        app_watchdog.stopping = True
    return 0
