"""Whether a signer makes progress: a signer with transactions in flight that sees nothing confirm
for ``MILEAGE_STALL_SECONDS`` raises ``mileage_bridge_stalled`` and logs a warning (again each
period while it lasts), whatever the cause: a nonce gap, a node that stopped mining or refuses the
transactions, or a node that is down (docs/bridge-operations.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bridge import metrics


class ProgressWatch:
    """Whether a signer is making progress: something confirmed (mined, reverted, replaced,
    failed) while it had work in flight. ``clock`` is injectable for tests."""

    def __init__(
        self,
        sender: str,
        stall_seconds: float,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sender = sender
        self.stall_seconds = stall_seconds
        self.log = log
        self.clock = clock
        self._since: float | None = None  # waiting since (None: nothing in flight)
        self._warned_at: float | None = None
        metrics.STALLED.labels(sender=sender).set(0)
        metrics.SECONDS_SINCE_PROGRESS.labels(sender=sender).set(0)

    def observe(self, *, progressed: bool, in_flight: bool) -> float | None:
        """Record one step; returns the seconds without progress while stalled, else None."""
        now = self.clock()
        if progressed or not in_flight:
            if self._warned_at is not None:
                self.log.info("bridge progressing again", sender=self.sender)
            self._since = now if in_flight else None
            self._warned_at = None
            metrics.STALLED.labels(sender=self.sender).set(0)
            metrics.SECONDS_SINCE_PROGRESS.labels(sender=self.sender).set(0)
            return None
        if self._since is None:
            self._since = now
        waited = now - self._since
        metrics.SECONDS_SINCE_PROGRESS.labels(sender=self.sender).set(waited)
        if waited <= self.stall_seconds:
            return None
        metrics.STALLED.labels(sender=self.sender).set(1)
        if self._warned_at is None or now - self._warned_at >= max(self.stall_seconds, 1.0):
            self._warned_at = now
            self.log.warning(
                "bridge stalled: transactions in flight, nothing confirmed",
                sender=self.sender,
                seconds=round(waited, 1),
                hint="see docs/bridge-operations.md (stalled bridge)",
            )
        return waited
