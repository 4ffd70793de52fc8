"""Structured logs: one JSON line per page run, request or job (``user``, ``page``/``job``, ``duration_ms``,
``replica``), written to standard error by the ``dashboard.access`` logger.

A log collector (journald, docker logs, Loki, …) reads them as they are; ``replica`` is ``DASHBOARD_REPLICA``
(the runner sets it to the port) so lines from several app processes can be told apart.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator

ACCESS = "dashboard.access"
_FIELDS = ("event", "user", "role", "page", "job", "duration_ms", "status", "error", "path", "bytes")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
                "replica": os.environ.get("DASHBOARD_REPLICA", str(os.getpid()))}
        for field in _FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def access_logger() -> logging.Logger:
    """The ``dashboard.access`` logger with its JSON-lines handler (added once per process)."""
    logger = logging.getLogger(ACCESS)
    if not any(isinstance(h.formatter, JsonLines) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


@contextmanager
def timed(event: str, on_done=None, **fields) -> Iterator[dict]:
    """Log one line when the block ends: its duration, ``status`` ok or error, and the fields (the block may add
    to the yielded dict, e.g. the user once signed in); ``on_done(fields)`` then (the page-run metrics)."""
    started = time.perf_counter()
    status = "ok"
    try:
        yield fields
    except Exception as error:
        status, fields["error"] = "error", type(error).__name__
        raise
    finally:
        fields.update(event=event, status=status, duration_ms=round((time.perf_counter() - started) * 1000, 1))
        access_logger().info(event, extra=fields)
        if on_done is not None:
            on_done(fields)
