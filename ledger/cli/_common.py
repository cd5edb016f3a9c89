"""Shared plumbing of the CLI commands: errors become one clear line and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from bridge.errors import BridgeError
from ledger.domain.errors import LedgerError

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's errors into ``error: <message>`` on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (LedgerError, BridgeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from exc

    return wrapper
