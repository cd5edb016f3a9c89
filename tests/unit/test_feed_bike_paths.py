"""BIKE feeds: the pipeline's fast paths agree with a plain reference computation.

The reference below reads the feed once with the general row checks (`parse_ride`), groups the
rides per member-year in memory and applies `bike.year_awards`; the pipeline (scratch database,
batches, fast cell parsing, lazy award ids) must give the same awards and the same rejects with
the same messages, on hostile feeds (control and zero-width characters, bad months, negative,
huge or non-ASCII numbers, duplicates, unsorted rows, earlier awards) and across batch
boundaries.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.errors import FeedError
from ledger.domain.rules import bike
from ledger.domain.types import YearMonth
from ledger.feeds import ComputedAward, FeedOptions, Reject, formats, iter_awards, pipeline, reader
from ledger.feeds.cells import RowInvalid
from ledger.feeds.formats import BIKE_COLUMNS, RideParser, parse_ride
from ledger.feeds.reader import RowProblem, read_rows
from tests.keyring import KEYS

OPTIONS = FeedOptions(award_key=KEYS.award, today=YearMonth(2025, 6))
Item = tuple[object, ...]

MEMBERS = [
    "B1",
    "B2",
    "B3",
    "회원7",  # non-ASCII letters: valid
    "B\u00a04",  # no-break space inside: printable, valid
    "B\t5",  # tab
    "B\u200b6",  # zero-width space
    "B\r7",  # carriage return (quoted)
    "B|8",
    " B1 ",  # surrounding spaces are stripped like any cell
    "X" * 64,
    "X" * 65,
    "",
    "B\x7f9",
    "B\u20281",  # line separator
]
MONTHS = [
    "2024-01",
    "2024-02",
    "2024-05",
    "2024-12",
    "2025-01",
    " 2024-03 ",
    "2024-13",
    "2024-00",
    "2024-1",
    "24-01",
    "2021-09",  # before the program began
    "2021-10",
    "2025-07",  # after `today`
    "9999-12",
    "２０２４-04",  # full-width digits: a \\d month
    "",
    "2024-05x",
]
NUMBERS = [
    "0",
    "9",
    "10",
    "20",
    "28",
    "29",
    "31",
    "32",
    "-1",
    "+5",
    "1.5",
    "1e3",
    "",
    " 15 ",
    "007",
    "٣٠",  # Arabic-Indic digits: a \\d number
    "²",
    "9" * 30,
    "9" * 31,
    "40320",
    "43200",
    "44640",
    "44641",
    "1000",
    "abc",
]
PASSES = ["true", "false", "TRUE", " yes ", "n", "1", "0", "maybe", ""]


def hostile_rows(seed: int, count: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.5:  # mostly good rows, so the caps and duplicates matter
            member = rng.choice([*MEMBERS[:5], "G1", "G2", "G3"])
            month = (
                f"{rng.choice([2024, 2024, 2025])}-{rng.randrange(1, 7 if roll < 0.1 else 13):02d}"
            )
            days = str(rng.randrange(0, 10) if rng.random() < 0.15 else rng.randrange(10, 29))
            minutes = str(rng.randrange(0, int(days) * 1440 + 2))
            holder = "false" if rng.random() < 0.1 else "true"
        else:
            member, month = rng.choice(MEMBERS), rng.choice(MONTHS)
            days, minutes = rng.choice(NUMBERS), rng.choice(NUMBERS)
            holder = rng.choice(PASSES)
        row = [member, month, days, minutes, holder]
        if rng.random() < 0.03:
            row = row[: rng.randrange(0, 5)] if rng.random() < 0.5 else [*row, "extra"]
        rows.append(row)
    return rows


def write_feed(path: Path, rows: Iterable[Sequence[str]], blank_every: int = 0) -> Path:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(BIKE_COLUMNS)
    for i, row in enumerate(rows, start=1):
        w.writerow(row)
        if blank_every and i % blank_every == 0:
            out.write("\n")
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def earned_lookup(seed: int) -> pipeline.EarnedBefore:
    """What earlier feeds recorded: a function of (seed, member, year) alone, as a database
    answers, whatever the order and the chunks the members are asked in."""

    def lookup(year: int, members: Sequence[str]) -> list[tuple[str, int, int]]:
        out = []
        for member in members:
            rng = random.Random(f"{seed}|{member}|{year}")
            months = rng.sample(range(1, 13), rng.choice([0, 0, 1, 3]))
            out += [(member, m, rng.choice([0, 500, 2_000])) for m in months]
        return out

    return lookup


def reference(
    path: Path, known: set[str] | None, earned_before: pipeline.EarnedBefore | None
) -> list[Item]:
    """The BIKE results computed the plain way (whole feed in memory)."""
    try:
        items = list(read_rows(path, BIKE_COLUMNS))
    except FeedError as error:
        return [("reject", error.line, error.problem)]
    rides: dict[int, tuple[str, bike.BikeMonth, bool]] = {}
    out: dict[int, Item] = {}
    for item in items:
        if isinstance(item, RowProblem):
            out[item.line] = ("reject", item.line, item.message)
            continue
        line, row = item
        try:
            parsed = parse_ride(row, OPTIONS)
        except RowInvalid as error:
            out[line] = ("reject", line, str(error))
            continue
        rides[line] = (parsed.member_id, parsed.ride, parsed.pass_365)
    groups: dict[tuple[str, int], list[int]] = {}
    for line, (member, ride, _) in sorted(rides.items()):
        groups.setdefault((member, ride.month.year), []).append(line)
    recorded: dict[tuple[str, int], dict[int, int]] = {}
    if earned_before is not None:
        for year in sorted({y for _, y in groups}):
            members = sorted(m for m, y in groups if y == year)
            for member, month, amount in earned_before(year, members):
                recorded.setdefault((member, year), {})[int(month)] = int(amount)
    results: dict[int, tuple[int, str, int | None]] = {}
    for key, lines in groups.items():
        before = recorded.get(key, {})
        first: dict[int, int] = {}
        for line in lines:  # file order: the first row of a month wins
            month = rides[line][1].month.month
            if month in first:
                results[line] = (0, "duplicate", first[month])
            else:
                first[month] = line
        kept = [line for line in lines if line not in results]
        paid = []
        for line in kept:
            month = rides[line][1].month.month
            if month in before:
                results[line] = (before[month], pipeline.RECORDED_TIER, None)
            elif not rides[line][2]:
                results[line] = (0, pipeline.NO_PASS_TIER, None)
            else:
                paid.append(line)
        computed = bike.year_awards([rides[line][1] for line in paid], sum(before.values()))
        for line, result in zip(paid, computed, strict=True):
            results[line] = (result.amount, result.tier, None)
    for line, (member, ride, _) in rides.items():
        period = str(ride.month)
        amount, tier, dup = results[line]
        if known is not None and member not in known:
            reason = pipeline._unknown(member)
            out[line] = ("reject", line, reason)
        elif dup is not None:
            reason = (
                f"month: member {member!r} already has a row for {period} on line {dup}; "
                "a member may have one row per month, merge the rows"
            )
            out[line] = ("reject", line, reason)
        else:
            aid = awards.award_id(Program.BIKE, member, period, KEYS.award)
            minutes = (("ride_minutes", str(ride.ride_minutes)),)
            out[line] = ("award", line, member, period, amount, tier, aid, minutes)
    return [out[line] for line in sorted(out)]


def flat(items: Iterable[ComputedAward | Reject]) -> list[Item]:
    got: list[Item] = []
    for i in items:
        if isinstance(i, Reject):
            got.append(("reject", i.line, i.reason))
        else:
            assert i.program is Program.BIKE and i.flags == frozenset() and i.vehicle_id is None
            got.append(
                ("award", i.line, i.member_id, i.period, i.amount, i.tier, i.award_id, i.savings)
            )
    return got


@pytest.mark.parametrize(("batch", "chunk"), [(1, 1), (3, 2), (1_000, 500)])
@pytest.mark.parametrize("seed", range(6))
def test_pipeline_agrees_with_the_reference_on_hostile_feeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, batch: int, chunk: int
) -> None:
    monkeypatch.setattr(pipeline, "_BATCH", batch)
    monkeypatch.setattr(pipeline, "EARNED_CHUNK", chunk)  # members per lookup
    rows = hostile_rows(seed, 600)
    path = write_feed(tmp_path / "feed.csv", rows, blank_every=37)
    known = {m.strip() for m in MEMBERS[:4]} if seed % 2 else None
    lookup = earned_lookup(seed) if seed % 3 else None
    expected = reference(path, known, earned_lookup(seed) if lookup else None)
    got = flat(
        iter_awards(
            Program.BIKE,
            path,
            None if known is None else known.__contains__,
            options=OPTIONS,
            bike_earned_before=lookup,
        )
    )
    assert got == expected
    kinds = {item[0] for item in got}
    assert kinds == {"award", "reject"}  # the feed exercises both
    if seed in (1, 2, 4):  # and months recorded before
        assert any(item[5] == pipeline.RECORDED_TIER for item in got if item[0] == "award")


def test_pipeline_agrees_with_the_reference_on_a_sorted_feed(tmp_path: Path) -> None:
    rows = sorted(hostile_rows(99, 300), key=lambda r: (r[:1], r[1:2]))
    path = write_feed(tmp_path / "feed.csv", rows)
    assert flat(iter_awards(Program.BIKE, path, options=OPTIONS)) == reference(path, None, None)


def test_a_decoding_error_ends_the_feed_with_one_reject(tmp_path: Path) -> None:
    path = write_feed(tmp_path / "feed.csv", [["B1", "2024-01", "20", "100", "true"]] * 3)
    path.write_bytes(path.read_bytes() + b"B2,2024-01,20,\xff,true\n")
    got = flat(iter_awards(Program.BIKE, path, options=OPTIONS))
    assert got == reference(path, None, None)
    assert [g[:2] for g in got] == [("reject", 5)]


def test_award_ids_are_the_keyed_ids(tmp_path: Path) -> None:
    """Award ids (computed lazily for BIKE) are the keyed ids of (program, member, period)."""
    path = write_feed(tmp_path / "feed.csv", [["B1", "2024-01", "20", "100", "true"]])
    (award,) = iter_awards(Program.BIKE, path, options=OPTIONS)
    assert isinstance(award, ComputedAward)
    expected = awards.award_id(Program.BIKE, "B1", "2024-01", KEYS.award)
    assert award.award_id == expected and award.award_id == expected
    other = ComputedAward(
        2, "B1", Program.BIKE, "2024-01", 300, "per_minute", expected, savings=award.savings
    )
    assert award == other and hash(award) == hash(other)


def general(row: dict[str, str]) -> tuple[object, ...]:
    try:
        p = parse_ride(row, OPTIONS)
    except RowInvalid as error:
        return ("invalid", str(error))
    return (p.member_id, p.ride.month, p.ride.ride_days, p.ride.ride_minutes, p.pass_365)


def fast(parser: RideParser, row: dict[str, str]) -> tuple[object, ...]:
    try:
        return parser(row)
    except RowInvalid as error:
        return ("invalid", str(error))


def test_the_fast_row_parser_agrees_with_the_general_checks() -> None:
    """Every combination of hostile cells: same ride, or the same problems in the same words;
    with the month cache cold, warm, and full."""
    warm = RideParser(OPTIONS)
    for month in MONTHS:
        fast(warm, dict(zip(BIKE_COLUMNS, ["B1", month, "20", "100", "true"], strict=True)))
    full = RideParser(OPTIONS)
    for i in range(formats._MONTHS_MAX):  # a full cache: new month texts take the general path
        full._months[f"filler {i}"] = (YearMonth(2024, 1), 31)
    rng = random.Random(5)
    checked = 0
    for member in MEMBERS:
        for month in MONTHS:
            for _ in range(12):
                cells = [member, month, rng.choice(NUMBERS), rng.choice(NUMBERS)]
                row = dict(zip(BIKE_COLUMNS, [*cells, rng.choice(PASSES)], strict=True))
                expected = general(row)
                assert fast(RideParser(OPTIONS), row) == expected, row
                assert fast(warm, row) == expected, row
                assert fast(full, row) == expected, row
                checked += expected[0] != "invalid"
    assert checked > 50  # good rows are compared too
    for days in range(32):
        for minutes in (0, 1, days * 1440 - 1, days * 1440, days * 1440 + 1):
            for month in ("2024-02", "2023-02", "2024-04", "2024-05"):
                row = dict(
                    zip(BIKE_COLUMNS, ["B1", month, str(days), str(minutes), "y"], strict=True)
                )
                assert fast(warm, row) == general(row), row


@pytest.mark.parametrize(
    "data",
    [
        b"a,b\r\nc\rd\r\n",
        b"a\rb",
        b"x\r",
        b"a\r\n\r\n",
        b"\r\n",
        b"a\n\rb\r\n",
        b"ab\rc",
        b"a\r\rb\n",
    ],
)
def test_the_reader_splits_lines_at_lf_crlf_and_lone_cr(data: bytes) -> None:
    """The reader's physical lines (and so the line numbers of rejects) are those of
    `bytes.splitlines`, whichever line ends a file mixes."""
    expected = [piece.decode() for piece in data.splitlines(keepends=True)]
    assert list(reader._lines(io.BytesIO(data), "f")) == expected


def test_month_texts_are_yyyy_mm_cached_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.domain import types

    monkeypatch.setattr(types, "_TEXTS", {})
    monkeypatch.setattr(types, "_TEXTS_MAX", 5)  # most months below are formatted uncached
    for year in (1, 9, 999, 2024, 9999):
        for month in range(1, 13):
            assert str(YearMonth(year, month)) == f"{year:04d}-{month:02d}"
            assert str(YearMonth(year, month)) == f"{year:04d}-{month:02d}"
    assert len(types._TEXTS) == 5
