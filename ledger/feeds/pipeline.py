"""Computing the awards of a feed file, streaming, one result per data row in file order.

`iter_awards` is the entry point for the CLI (`mileage awards compute`) and for the
database-backed import, which passes `known_members` (the member registry) and, for BIKE,
`bike_earned_before` (what earlier feeds already awarded in the year).

Checks per row, in order: cell count, cell values, registry, rule (ECO_ORG decisions),
uniqueness (a member once per round, a vehicle once per round, a BIKE member once per
month; the first good row wins, later ones are rejected naming it).

BIKE needs the whole member-year (the yearly cap is applied in month order even when the
feed is unsorted), so a BIKE feed goes through the scratch database: one pass over the rows
stores the good rows (`RideParser`: a fast path for plainly well-formed rows, the general
checks for the rest) and every reject's reason; SQLite sorts the rides by member, year and
month on disk; each member-year then goes through the one cap implementation,
`ledger.domain.rules.bike` (`ordered_year_amounts`: what `year_awards` applies once its months
are checked and ordered), with what it recorded before (`bike_earned_before`, asked per year
for chunks of `EARNED_CHUNK` members as the member-years are read); the results, which hold
what they are read back with, are read back in line order (file order).
Memory stays flat whatever the feed's size (rows go to disk in batches of `_BATCH`).

`iter_row_awards` is the same for rows that do not come from a file (the API's batches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ledger.domain import awards
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.domain.errors import DecisionNotAllowed, FeedError, InvalidValue, KeyNotConfigured
from ledger.domain.keys import MIN_SECRET_BYTES
from ledger.domain.rules import bike
from ledger.feeds.cells import RowInvalid
from ledger.feeds.formats import COLUMNS, FeedOptions, RideParser, parse_row
from ledger.feeds.model import ComputedAward, Reject
from ledger.feeds.periods import current_month, period_problem
from ledger.feeds.reader import RowProblem, Rows, read_rows
from ledger.feeds.scratch import Scratch

KnownMembers = Callable[[str], bool]
"""Member registry predicate: True if the member id is registered (for the program)."""
EarnedBefore = Callable[[int, Sequence[str]], Iterable[tuple[str, int, int]]]
"""BIKE: for a calendar year and a chunk of member ids, ``(member_id, month, amount)`` of every
award already recorded for those members in that year, whatever feed or batch it came from
(``amount`` is what counts toward the yearly cap: 0 for an award that failed). Called once per
chunk of at most ``EARNED_CHUNK`` members, so a database answers a feed of a million rows with
a few thousand queries instead of one query per member-year."""
RECORDED_TIER = "recorded_before"
"""Tier of a BIKE row whose month already has an award: its recorded amount, not recomputed."""
NO_PASS_TIER = "no_365_pass"
"""Tier of a BIKE row of a member without the 365-day pass that month: 0, and the month does
not use up the yearly cap (§2.4: the pilot pays pass holders only)."""

_BATCH = 1_000
EARNED_CHUNK = 500


def _unknown(member_id: str) -> str:
    return f"member_id: unknown member {member_id!r}; register the member, then import again"


def _duplicate(column: str, key: str, first: int) -> str:
    return (
        f"{column}: {key!r} already appears on line {first}; "
        "a feed may list it only once per round, remove or merge the rows"
    )


def check_org_period(period: str | None, options: FeedOptions | None = None) -> str:
    """The normalised ECO_ORG round; raises `InvalidValue` if missing, not a peak window or
    outside the program's life (`options`' starts and current month)."""
    if period is None:
        raise InvalidValue("period", "ECO_ORG feeds need the round, e.g. --period 2024-12..2025-03")
    start, end = awards.parse_window_period(period)
    normalised = awards.org_period(start, end)
    options = options or FeedOptions()
    today = options.today or current_month()
    found = period_problem(Program.ECO_ORG, start, end, options.starts, today)
    if found is not None:
        raise InvalidValue("period", found[1])
    return normalised


def check_award_key(key: bytes) -> None:
    """Raise `KeyNotConfigured` unless ``key`` can key award ids (`IdKeys.award`)."""
    if len(key) < MIN_SECRET_BYTES:
        raise KeyNotConfigured(
            "FeedOptions.award_key",
            "is not set (pass the award key: Runtime.keys.award or Settings.id_keys().award)",
        )


def iter_awards(
    program: Program,
    path: Path | str,
    known_members: KnownMembers | None = None,
    *,
    options: FeedOptions | None = None,
    bike_earned_before: EarnedBefore | None = None,
) -> Iterator[ComputedAward | Reject]:
    """Stream the awards of the feed at `path` for `program`.

    Yields a `ComputedAward` (amount 0 when nothing is earned) or a `Reject` per data row, in
    file order. A file-level problem (unreadable, not UTF-8, bad header, ECO_ORG without a
    round) yields one `Reject` (line 0 or the line at fault) and ends the stream.
    ``options.award_key`` keys the award ids; without it the stream raises
    `KeyNotConfigured` at once.
    """
    path = Path(path)
    columns = COLUMNS.get(program, ())
    yield from iter_row_awards(
        program,
        str(path),
        lambda: read_rows(path, columns),
        known_members,
        options=options,
        bike_earned_before=bike_earned_before,
    )


def iter_row_awards(
    program: Program,
    file: str,
    rows: Rows,
    known_members: KnownMembers | None = None,
    *,
    options: FeedOptions | None = None,
    bike_earned_before: EarnedBefore | None = None,
) -> Iterator[ComputedAward | Reject]:
    """`iter_awards` for any source of rows: `rows()` starts the pass over (number, row)
    pairs (numbers unique); rejects name `file` and the row's number."""
    options = options or FeedOptions()
    check_award_key(options.award_key)
    if options.today is None:
        options = replace(options, today=current_month())
    try:
        if program not in AWARDED_PROGRAMS:
            raise FeedError(file, 0, f"{program.name} is not awarded from feeds")
        if program is Program.ECO_ORG:
            try:
                period = check_org_period(options.org_period, options)
            except InvalidValue as error:
                raise FeedError(file, 0, str(error)) from error
            options = replace(options, org_period=period)
        if program is Program.BIKE:
            yield from _bike(file, rows, known_members, bike_earned_before, options)
        else:
            yield from _rows(program, file, rows, known_members, options)
    except FeedError as error:
        yield Reject(error.file, error.line, error.problem)


def _rows(
    program: Program, file: str, rows: Rows, known: KnownMembers | None, options: FeedOptions
) -> Iterator[ComputedAward | Reject]:
    with Scratch() as scratch:
        for item in rows():
            if isinstance(item, RowProblem):
                yield Reject(file, item.line, item.message)
                continue
            line, row = item
            try:
                parsed = parse_row(program, row, options)
            except RowInvalid as error:
                yield Reject(file, line, str(error))
                continue
            if known is not None and not known(parsed.member_id):
                yield Reject(file, line, _unknown(parsed.member_id))
                continue
            try:
                result = parsed.compute()
            except DecisionNotAllowed as error:
                yield Reject(file, line, f"rank: {error}")
                continue
            keys = [f"{column}\x1f{key}" for column, key in parsed.unique]
            taken = scratch.claim(keys, line)
            if taken is not None:
                column, _, key = taken[0].partition("\x1f")
                yield Reject(file, line, _duplicate(column, key, taken[1]))
                continue
            yield ComputedAward(
                line=line,
                member_id=parsed.member_id,
                program=program,
                period=parsed.period,
                amount=result.amount,
                tier=result.tier,
                award_id=awards.award_id(
                    program, parsed.member_id, parsed.period, options.award_key
                ),
                flags=result.flags,
                savings=parsed.savings,
                vehicle_id=parsed.vehicle_id,
            )


def _bike(
    file: str,
    rows: Rows,
    known: KnownMembers | None,
    earned_before: EarnedBefore | None,
    options: FeedOptions,
) -> Iterator[ComputedAward | Reject]:
    with Scratch() as scratch:
        db = scratch.db
        db.execute(
            "CREATE TABLE rides(line INTEGER PRIMARY KEY, member TEXT, year INTEGER,"
            " month INTEGER, days INTEGER, minutes INTEGER, holder INTEGER)"
        )
        # every row's outcome, by line: a reject's reason, or the ride's result
        db.execute(
            "CREATE TABLE results(line INTEGER PRIMARY KEY, reason TEXT, member TEXT,"
            " year INTEGER, month INTEGER, minutes INTEGER, amount INTEGER, tier TEXT,"
            " first_line INTEGER)"
        )
        # The one pass over the rows: good rows go to `rides`, bad ones to `results`.
        parse = RideParser(options)
        rides: list[tuple[int, str, int, int, int, int, bool]] = []
        bad: list[tuple[int, str]] = []
        for item in rows():
            if isinstance(item, RowProblem):
                bad.append((item.line, item.message))
            else:
                line, row = item
                try:
                    member, month, days, minutes, holder = parse(row)
                except RowInvalid as error:
                    bad.append((line, str(error)))
                else:
                    rides.append((line, member, month.year, month.month, days, minutes, holder))
                    if len(rides) >= _BATCH:
                        db.executemany("INSERT INTO rides VALUES (?, ?, ?, ?, ?, ?, ?)", rides)
                        rides.clear()
            if len(bad) >= _BATCH:
                db.executemany("INSERT INTO results(line, reason) VALUES (?, ?)", bad)
                bad.clear()
        db.executemany("INSERT INTO rides VALUES (?, ?, ?, ?, ?, ?, ?)", rides)
        db.executemany("INSERT INTO results(line, reason) VALUES (?, ?)", bad)
        rides.clear()
        bad.clear()
        _apply_bike_caps(scratch, earned_before)
        # The results in line order (the file's order).
        key = options.award_key
        periods: dict[tuple[int, int], str] = {}
        stored = db.execute(
            "SELECT line, reason, member, year, month, minutes, amount, tier, first_line"
            " FROM results ORDER BY line"
        )
        while chunk := stored.fetchmany(_BATCH):
            for line, reason, member, year, month, minutes, amount, tier, first in chunk:
                if reason is not None:
                    yield Reject(file, line, reason)
                    continue
                if known is not None and not known(member):
                    yield Reject(file, line, _unknown(member))
                    continue
                period = periods.get((year, month))
                if period is None:  # awards.bike_period of the stored month
                    period = periods[year, month] = f"{year:04d}-{month:02d}"
                if first is not None:
                    reason = (
                        f"month: member {member!r} already has a row for {period} on line "
                        f"{first}; a member may have one row per month, merge the rows"
                    )
                    yield Reject(file, line, reason)
                    continue
                yield ComputedAward(
                    line,
                    member,
                    Program.BIKE,
                    period,
                    amount,
                    tier,
                    savings=(("ride_minutes", str(minutes)),),
                    award_key=key,  # the id is computed if asked for (accruals do not)
                )


def _apply_bike_caps(scratch: Scratch, earned_before: EarnedBefore | None) -> None:
    """Compute every stored ride's award per member-year, into `results`.

    Each member-year goes to `bike.ordered_year_amounts` (the caps of `bike.year_awards`, for
    months already checked and in month order) with everything already recorded for the
    member in that year as `earned_before`; a month that already has an award keeps it (tier
    `RECORDED_TIER`), a month without the 365-day pass earns 0 (tier `NO_PASS_TIER`) outside
    the caps, and a second row of a month is a duplicate naming the first. Each result row
    also holds the ride's member, year, month and minutes (what the results are read back
    with, in line order, without looking the ride up again).

    The rides are read once, by member-year; `earned_before` is asked per year for the
    members read since the last ask, once a year has `EARNED_CHUNK` of them (and at the end),
    and the member-years read meanwhile (at most that many per year) wait for the answer.
    """
    db = scratch.db
    reader = db.execute(
        "SELECT member, year, month, line, days, minutes, holder FROM rides"
        " ORDER BY member, year, month, line"
    )
    # line, member, year, month, minutes, amount, tier, first line
    out: list[tuple[int, str, int, int, int, int, str, int | None]] = []
    Group = list[tuple[int, int, int, int]]  # line, month, days, minutes (month order)
    waiting: list[tuple[str, int, Group, set[int]]] = []  # member, year, rides, months w/o pass
    asking: dict[int, list[str]] = {}  # year: the members of `waiting` in that year
    ordered = bike.ordered_year_amounts

    def settle() -> None:
        """Ask what the waiting member-years recorded before, and compute them."""
        recorded_of: dict[tuple[str, int], dict[int, int]] = {}
        if earned_before is not None:
            for year, members in asking.items():
                for m, month, a in earned_before(year, members):
                    recorded_of.setdefault((m, year), {})[int(month)] = int(a)
        asking.clear()
        nothing: dict[int, int] = {}
        for member, year, group, no_pass in waiting:
            recorded = recorded_of.get((member, year), nothing)
            new = group
            if recorded or no_pass:
                new = []
                for ride in group:
                    line, month, _days, minutes = ride
                    if month in recorded:
                        amount = recorded[month]
                        out.append(
                            (line, member, year, month, minutes, amount, RECORDED_TIER, None)
                        )
                    elif month in no_pass:
                        out.append((line, member, year, month, minutes, 0, NO_PASS_TIER, None))
                    else:
                        new.append(ride)
            amounts = ordered([(d, mi) for _, _, d, mi in new], sum(recorded.values()))
            for (line, month, _days, minutes), (amount, tier) in zip(new, amounts, strict=True):
                out.append((line, member, year, month, minutes, amount, tier, None))
        waiting.clear()

    group: Group = []
    no_pass: set[int] = set()
    key: tuple[str, int] | None = None  # the member-year of `group`
    first_of_month: tuple[int, int] = (0, 0)  # month, line of the group's month being read
    insert = "INSERT INTO results VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?)"
    while rows := reader.fetchmany(_BATCH):
        for member, year, month, line, days, minutes, holder in rows:
            if key is None or year != key[1] or member != key[0]:
                if key is not None:
                    waiting.append((key[0], key[1], group, no_pass))
                    members = asking.setdefault(key[1], [])
                    members.append(key[0])
                    if earned_before is None or len(members) >= EARNED_CHUNK:
                        settle()
                key, group, no_pass = (member, year), [], set()
            elif first_of_month[0] == month:
                out.append((line, member, year, month, minutes, 0, "duplicate", first_of_month[1]))
                continue
            first_of_month = (month, line)
            if not holder:
                no_pass.add(month)
            group.append((line, month, days, minutes))
        db.executemany(insert, out)
        out.clear()
    if key is not None:
        waiting.append((key[0], key[1], group, no_pass))
        asking.setdefault(key[1], []).append(key[0])
    settle()
    db.executemany(insert, out)
