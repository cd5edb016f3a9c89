"""Award ids and the period strings they are built from (docs/DESIGN.md).

award_id = HMAC-SHA256(key=award key, msg=UTF-8 "mileage-award|{PROGRAM}|{member_id}|{period}"),
where the award key is the ``award-id`` subkey of MILEAGE_REF_KEY (``ledger.domain.keys``,
docs/keys.md), PROGRAM is the program's name (e.g. `ECO_HOUSEHOLD`) and the period is, per
program:

| program | period | example |
|---|---|---|
| ECO_HOUSEHOLD | window `start..end` | `2024-01..2024-06` |
| ECO_ORG | window `start..end` | `2024-12..2025-03` |
| CAR | period `start..end` | `2024-01..2024-06` |
| ECO_SEASON, CAR_SEASON | year the season starts (in December) | `2024` |
| BIKE | month | `2024-05` |

Deterministic under one key, so importing the same feed twice never grants twice; without the
key an award id does not reveal (nor let anyone confirm by enumeration) the member or period.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.domain.codes import Program
from ledger.domain.errors import InvalidPeriod, InvalidValue, KeyNotConfigured
from ledger.domain.keys import MIN_SECRET_BYTES, keyed_hash, keyed_hasher
from ledger.domain.types import AwardId, YearMonth

ORG_WINDOW_START_MONTHS = (12, 6)
ORG_WINDOW_MONTHS = 4


def check_member_id(member_id: str) -> None:
    """Raise `InvalidValue` unless `member_id` is usable inside an award id."""
    if not member_id or member_id != member_id.strip():
        raise InvalidValue("member_id", f"{member_id!r} is empty or has surrounding spaces")
    if "|" in member_id or "\r" in member_id or "\n" in member_id or "\t" in member_id:
        raise InvalidValue("member_id", f"{member_id!r} contains '|' or a control character")


def award_id(program: Program, member_id: str, period: str, key: bytes) -> AwardId:
    """The 32-byte award id of `member_id`'s award in `program` for `period` under the award
    `key` (`IdKeys.award`)."""
    if len(key) < MIN_SECRET_BYTES:
        raise KeyNotConfigured(
            "the award key", f"has {len(key)} bytes, fewer than {MIN_SECRET_BYTES}"
        )
    check_member_id(member_id)
    if not period or "|" in period:
        raise InvalidPeriod("period", f"{period!r} is empty or contains '|'")
    return AwardId(keyed_hash(key, f"mileage-award|{program.name}|{member_id}|{period}"))


def award_id_hex(program: Program, key: bytes) -> Callable[[str, str], str]:
    """``(member_id, period) -> "0x" + award_id(program, member_id, period, key).hex()``,
    with the same checks, the key checked and the common prefix hashed once (a payout's ids)."""
    if len(key) < MIN_SECRET_BYTES:
        raise KeyNotConfigured(
            "the award key", f"has {len(key)} bytes, fewer than {MIN_SECRET_BYTES}"
        )
    digest = keyed_hasher(key, f"mileage-award|{program.name}|")

    def hex_id(member_id: str, period: str) -> str:
        check_member_id(member_id)
        if not period or "|" in period:
            raise InvalidPeriod("period", f"{period!r} is empty or contains '|'")
        return "0x" + digest(f"{member_id}|{period}").hex()

    return hex_id


def window_period(
    start: YearMonth,
    end: YearMonth,
    start_field: str = "window_start",
    end_field: str = "window_end",
) -> str:
    """`YYYY-MM..YYYY-MM`, the period of window-based programs (CAR: its period)."""
    if end < start:
        raise InvalidPeriod(end_field, f"{end} is before {start_field} {start}")
    return f"{start}..{end}"


def parse_window_period(text: str, field: str = "period") -> tuple[YearMonth, YearMonth]:
    """Parse `YYYY-MM..YYYY-MM` (inverse of `window_period`)."""
    start, sep, end = text.partition("..")
    if not sep:
        raise InvalidPeriod(field, f"{text!r} is not a window in the form YYYY-MM..YYYY-MM")
    first, last = YearMonth.parse(start, field), YearMonth.parse(end, field)
    window_period(first, last, field, field)
    return first, last


def household_period(start: YearMonth, end: YearMonth, months: int = 6) -> str:
    """Period of an ECO_HOUSEHOLD window, which must span exactly `months` months."""
    length = start.months_until(end) + 1
    if length != months:
        raise InvalidPeriod(
            "window_end",
            f"window {start}..{end} spans {length} months; household windows span {months}",
        )
    return window_period(start, end)


def season_year(start: YearMonth, end: YearMonth) -> int:
    """The season year of a December–March window; raises `InvalidPeriod` otherwise."""
    if start.month != 12 or end != start.plus(3):
        raise InvalidPeriod(
            "window_start",
            f"window {start}..{end} is not a fine-dust season; use YYYY-12..(YYYY+1)-03",
        )
    return start.year


def season_period(year: int) -> str:
    """Period of ECO_SEASON / CAR_SEASON: the year the season starts in December."""
    if not 1 <= year <= 9998:
        raise InvalidPeriod("season", f"{year} is not a plausible season year")
    return f"{year:04d}"


def org_period(start: YearMonth, end: YearMonth) -> str:
    """Period of an ECO_ORG round: a 4-month peak window, Dec–Mar or Jun–Sep."""
    if start.month not in ORG_WINDOW_START_MONTHS or end != start.plus(ORG_WINDOW_MONTHS - 1):
        raise InvalidPeriod(
            "period",
            f"{start}..{end} is not an organisation round; use YYYY-12..(YYYY+1)-03 "
            "or YYYY-06..YYYY-09",
        )
    return window_period(start, end)


def bike_period(month: YearMonth) -> str:
    """Period of BIKE: the riding month `YYYY-MM`."""
    return str(month)
