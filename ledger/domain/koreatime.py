"""Korea time (UTC+09:00, no daylight saving) for what citizens read: history, notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")


def kst(moment: int | datetime) -> str:
    """Unix seconds or a datetime (naive: UTC) as ISO 8601 in Korea time (``...+09:00``)."""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(KST).isoformat()
    return datetime.fromtimestamp(moment, KST).isoformat()
