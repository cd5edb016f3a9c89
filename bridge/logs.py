"""Structured logging (structlog): JSON lines in production, readable lines on a terminal.

JSON is chosen when ``MILEAGE_LOG_JSON`` is true or stderr is not a terminal. Standard-library
loggers (uvicorn, alembic) go through the same renderer; the chatty ones (:data:`QUIET_LOGGERS`)
only from WARNING up. Never log citizen ids or keys.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_TRUE = {"1", "true", "yes", "on"}
#: Libraries that log a line per HTTP request or migration step at INFO (httpx: every JSON-RPC
#: call of the indexer and the verifier): shown from WARNING up, in every command.
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "web3", "alembic", "uvicorn.access")


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record, not as it was when logging was set up:
    a caller that swaps stderr for a while (Click's CliRunner, pytest's capture) and closes its
    stream afterwards must not leave later log lines writing to a closed file."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def want_json(explicit: bool | None = None) -> bool:
    """JSON logs: explicit choice, else MILEAGE_LOG_JSON, else whenever stderr is no terminal."""
    if explicit is not None:
        return explicit
    env = os.environ.get("MILEAGE_LOG_JSON")
    if env is not None and env.strip() != "":
        return env.strip().lower() in _TRUE
    return not sys.stderr.isatty()


def configure_logging(*, json: bool | None = None, level: str | int = "INFO") -> None:
    """Configure structlog and the standard library once per process (idempotent)."""
    lvl = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any
    if want_json(json):
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(lvl)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(lvl, logging.WARNING))


def get_logger(name: str, **context: Any) -> Any:
    """A structlog logger with ``context`` (e.g. ``component="submitter"``).

    Lazy: safe at module level, it takes the configuration in force at its first use (binding at
    import time would freeze structlog's default configuration, which prints to stdout)."""
    return structlog.stdlib.get_logger(name, **context)
