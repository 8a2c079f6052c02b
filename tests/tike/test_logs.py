"""Structured logs with correlation ids (tike/logs.py)."""

from __future__ import annotations

import asyncio
import io
import logging

import orjson

from tike import logs


def _handler(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"tike.test.{id(out)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def _lines(out: io.StringIO) -> list[dict[str, str]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_the_bound_ids_and_extra_ids_win() -> None:
    logger, out = _handler(logs.JsonFormatter())

    async def handle() -> None:
        logs.start(record="tike.intake[2]@41", unknown="dropped")
        logs.bind_from({"need_id": "need-1", "region": "r1", "value": 3, "team_id": None})
        logger.info("duplicate need %s dropped", "need-1")
        logger.info("offer", extra={"dispatch_id": "d-9", "need_id": "need-2"})

    asyncio.run(handle())
    first, second = _lines(out)
    assert first["msg"] == "duplicate need need-1 dropped"
    assert first["level"] == "info" and first["logger"].startswith("tike.test.")
    assert first["ts"].endswith("Z") and len(first["ts"]) == 24
    assert first["record"] == "tike.intake[2]@41"
    assert (first["need_id"], first["region"]) == ("need-1", "r1")
    assert "unknown" not in first and "value" not in first and "team_id" not in first
    assert (second["dispatch_id"], second["need_id"]) == ("d-9", "need-2")


def test_a_new_record_forgets_the_ids_of_the_previous_one() -> None:
    logger, out = _handler(logs.JsonFormatter())

    async def handle() -> None:
        logs.start(record="a[0]@1")
        logs.bind(need_id="need-1")
        logs.start(record="a[0]@2")
        logger.info("next")

    asyncio.run(handle())
    (line,) = _lines(out)
    assert line["record"] == "a[0]@2" and "need_id" not in line


def test_ids_are_per_task() -> None:
    logger, out = _handler(logs.JsonFormatter())

    async def agent(name: str, need: str, ready: asyncio.Event, go: asyncio.Event) -> None:
        logs.start(record=name)
        logs.bind(need_id=need)
        ready.set()
        await go.wait()
        logger.info(name)

    async def main() -> None:
        ready_a, ready_b, go = asyncio.Event(), asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(agent("a", "need-a", ready_a, go)),
            asyncio.create_task(agent("b", "need-b", ready_b, go)),
        ]
        await ready_a.wait()
        await ready_b.wait()
        go.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    by_msg = {line["msg"]: line["need_id"] for line in _lines(out)}
    assert by_msg == {"a": "need-a", "b": "need-b"}


def test_exceptions_are_one_json_line_with_the_traceback() -> None:
    logger, out = _handler(logs.JsonFormatter())
    try:
        raise ValueError("bad field")
    except ValueError:
        logger.exception("cannot apply")
    (line,) = _lines(out)
    assert line["level"] == "error" and "ValueError: bad field" in line["exc"]


def test_text_lines_append_the_ids() -> None:
    logger, out = _handler(logs.TextFormatter())

    async def handle() -> None:
        logs.start(record="x[1]@5")
        logs.bind(dispatch_id="d-1")
        logger.warning("late")

    asyncio.run(handle())
    assert out.getvalue().rstrip().endswith("late [record=x[1]@5 dispatch_id=d-1]")


def test_config_routes_uvicorn_through_the_root_handler() -> None:
    cfg = logs.config("info", "json")
    assert cfg["formatters"]["tike"]["()"] == "tike.logs.JsonFormatter"
    assert cfg["loggers"]["uvicorn.access"] == {"handlers": [], "propagate": True}
    assert logs.config("debug", "text")["root"]["level"] == "DEBUG"
