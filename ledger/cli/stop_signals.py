"""SIGTERM and SIGINT stop a long-running command cleanly, with exit code 0.

SIGTERM is what systemd, Docker and Kubernetes send; SIGINT is Ctrl-C. Python's defaults differ
(SIGTERM kills the process on the spot, skipping every ``finally``; SIGINT raises
KeyboardInterrupt), and uvicorn, while serving, catches both and raises the signal again once it
has shut down. :class:`StopSignals` makes both raise :class:`StopRequested` in the main thread,
so the command unwinds through its ``finally`` blocks (bridge, database, chain node). Once
:meth:`StopSignals.shield` is called (the cleanup started), further signals are noted and
ignored, so a second Ctrl-C or an impatient supervisor cannot cut the chain state dump short
(SIGKILL still can; the node then dies with its parent and saves its state, see
:mod:`bridge.processes`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequested(BaseException):
    """SIGTERM or SIGINT asked the process to stop; a BaseException, so that no
    ``except Exception`` on the way swallows it. Caught by the command, which exits 0."""

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum)
        super().__init__(f"stop requested by {self.signal.name}")


class StopSignals:
    """Context manager: SIGTERM/SIGINT raise :class:`StopRequested` (once) in the main thread.

    The previous handlers are restored on exit. Use from the main thread only (Python delivers
    signals there)."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say
        self.received: signal.Signals | None = None
        self._shielded = False
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None or self._shielded:
            self.say(f"{name}: already stopping (saving the chain state), please wait")
            return
        self.received = signal.Signals(signum)
        raise StopRequested(signum)

    def shield(self) -> None:
        """From now on, signals no longer interrupt: the cleanup runs to its end."""
        self._shielded = True

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
