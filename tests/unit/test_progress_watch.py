"""``bridge.stall.ProgressWatch``: a signer with work in flight and nothing confirming is
reported stalled (gauge + one warning per period), and clears when something confirms."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from bridge.stall import ProgressWatch


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def warning(self, event: str, **_: Any) -> None:
        self.lines.append(("warning", event))

    def info(self, event: str, **_: Any) -> None:
        self.lines.append(("info", event))


def gauge(name: str, sender: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"sender": sender})


def test_stall_is_reported_once_per_period_and_cleared_by_progress() -> None:
    now = [100.0]
    log = Log()
    watch = ProgressWatch("0xunit", 30.0, log, clock=lambda: now[0])
    assert watch.observe(progressed=False, in_flight=True) is None  # waiting starts
    now[0] += 30.0
    assert watch.observe(progressed=False, in_flight=True) is None  # not past the limit yet
    assert gauge("mileage_bridge_stalled", "0xunit") == 0
    now[0] += 1.0
    assert watch.observe(progressed=False, in_flight=True) == 31.0
    assert gauge("mileage_bridge_stalled", "0xunit") == 1
    assert gauge("mileage_bridge_seconds_since_progress", "0xunit") == 31.0
    now[0] += 5.0
    assert watch.observe(progressed=False, in_flight=True) == 36.0
    assert [lvl for lvl, _ in log.lines] == ["warning"]  # not again within the period
    now[0] += 30.0
    watch.observe(progressed=False, in_flight=True)
    assert [lvl for lvl, _ in log.lines] == ["warning", "warning"]
    assert watch.observe(progressed=True, in_flight=True) is None
    assert gauge("mileage_bridge_stalled", "0xunit") == 0
    assert log.lines[-1] == ("info", "bridge progressing again")


def test_an_idle_signer_is_never_stalled() -> None:
    now = [0.0]
    watch = ProgressWatch("0xidle", 0.0, Log(), clock=lambda: now[0])
    for _ in range(3):
        now[0] += 1000.0
        assert watch.observe(progressed=False, in_flight=False) is None
    assert gauge("mileage_bridge_stalled", "0xidle") == 0
    # work appears: the clock starts then, not at the last progress long ago
    assert watch.observe(progressed=False, in_flight=True) is None
    now[0] += 1.0
    assert watch.observe(progressed=False, in_flight=True) == 1.0
