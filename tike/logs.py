"""Logs: one JSON object per line (``TIKE_LOG_FORMAT=json``) or plain text, with the
correlation ids of the record being handled.

Each agent binds the ids of the record it handles (:func:`bind`); the ids stay bound for the
rest of that record's handling in that task, and every log line carries them::

    {"ts": "2026-11-23T10:00:00.123Z", "level": "info", "logger": "streams.dedup",
     "msg": "duplicate need need-x dropped", "record": "tike.intake[2]@41",
     "need_id": "need-x", "region": "etela-pohjanmaa"}
"""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

#: The ids a log line can carry, in the order they are written.
CORRELATION_IDS = (
    "record",
    "event_id",
    "need_id",
    "dispatch_id",
    "team_id",
    "region",
    "request_id",
)

_bound: ContextVar[dict[str, str] | None] = ContextVar("tike_log_ids", default=None)


def start(**ids: object) -> None:
    """Bind ``ids`` as the only ids of this task (a new record is being handled)."""
    _bound.set({k: str(v) for k, v in ids.items() if v is not None and k in CORRELATION_IDS})


def bind(**ids: object) -> None:
    """Add ``ids`` to the ids bound in this task."""
    current = dict(_bound.get() or {})
    current.update({k: str(v) for k, v in ids.items() if v is not None and k in CORRELATION_IDS})
    _bound.set(current)


def bind_from(value: object) -> None:
    """Bind the correlation ids found at the top level of a decoded record."""
    if isinstance(value, Mapping):
        bind(**{k: value[k] for k in CORRELATION_IDS if isinstance(value.get(k), str)})


def bound() -> dict[str, str]:
    return dict(_bound.get() or {})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, correlation ids,
    and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_bound.get() or {})
        for name in CORRELATION_IDS:  # ids passed with ``extra=`` win
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


class TextFormatter(logging.Formatter):
    """Plain text with the bound ids appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = _bound.get()
        if ids:
            line += " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return line


def config(level: str, fmt: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` configuration: everything to stderr."""
    formatter = "tike.logs.JsonFormatter" if fmt == "json" else "tike.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"tike": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "tike",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # uvicorn's own loggers propagate to the root handler (its default config does not).
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def setup(level: str, fmt: str) -> None:
    logging.config.dictConfig(config(level, fmt))
