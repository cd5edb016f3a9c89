"""Import program memberships and map them to unified citizen accounts.

CSV columns: ``member_id, program, citizen_id, district, donation_consent``. Each citizen has one
account whose on-chain id is HMAC-SHA256(citizen id) (ledger.domain.accounts); the citizen id
stays in the database. Re-importing the same file changes nothing; a member id already linked to
another citizen is rejected (linking accounts is an on-chain merge, never an edit); a changed
district or donation consent is an update of the citizen's record and is reported as such.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Account, Member
from ledger.domain.accounts import account_id
from ledger.domain.codes import Program
from ledger.feeds.model import Reject

COLUMNS = ("member_id", "program", "citizen_id", "district", "donation_consent")
TRUE = {"true", "1", "yes", "y"}
FALSE = {"false", "0", "no", "n", ""}
CHUNK = 2000


@dataclass(frozen=True)
class MemberRow:
    line: int
    member_id: str
    program: Program
    citizen_id: str
    district: str
    donation_consent: bool


@dataclass
class MembersReport:
    """What a members import did."""

    accounts_created: int = 0
    members_created: int = 0
    unchanged: int = 0
    updated: int = 0
    rejects: list[Reject] = field(default_factory=list)


def parse_members(path: Path) -> Iterator[MemberRow | Reject]:
    """Stream the rows of a members CSV; a bad row becomes a :class:`Reject`."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            yield Reject(str(path), 1, "file is empty; expected a header row")
            return
        header = [h.strip() for h in header]
        if tuple(header) != COLUMNS:
            missing = [c for c in COLUMNS if c not in header]
            extra = [c for c in header if c not in COLUMNS]
            yield Reject(
                str(path),
                1,
                f"header must be {','.join(COLUMNS)}"
                f" (missing: {missing or '-'}, unexpected: {extra or '-'})",
            )
            return
        seen: set[tuple[str, str]] = set()
        for line, cells in enumerate(reader, start=2):
            if not cells or all(not c.strip() for c in cells):
                continue
            yield _row(str(path), line, cells, seen)


def _row(path: str, line: int, cells: list[str], seen: set[tuple[str, str]]) -> MemberRow | Reject:
    if len(cells) != len(COLUMNS):
        return Reject(path, line, f"expected {len(COLUMNS)} columns, found {len(cells)}")
    member_id, program_s, citizen_id, district, consent = (c.strip() for c in cells)
    if not member_id or "|" in member_id:
        return Reject(path, line, "member_id: empty or contains '|'")
    try:
        program = Program[program_s]
    except KeyError:
        return Reject(path, line, f"program: unknown program {program_s!r}")
    if program is Program.SEOUL:
        return Reject(path, line, "program: SEOUL has no members (it is reached by conversion)")
    if not citizen_id:
        return Reject(path, line, "citizen_id: empty")
    if consent.lower() not in TRUE | FALSE:
        return Reject(path, line, f"donation_consent: {consent!r} is not true/false")
    if (program.name, member_id) in seen:
        return Reject(path, line, f"member_id: {member_id} appears twice for {program.name}")
    seen.add((program.name, member_id))
    return MemberRow(line, member_id, program, citizen_id, district, consent.lower() in TRUE)


def import_members(factory: sessionmaker[Session], path: Path, key: bytes) -> MembersReport:
    """Import ``path``; commits in chunks, each chunk all-or-nothing."""
    report = MembersReport()
    chunk: list[MemberRow] = []
    for item in parse_members(path):
        if isinstance(item, Reject):
            report.rejects.append(item)
            continue
        chunk.append(item)
        if len(chunk) >= CHUNK:
            _apply(factory, chunk, key, report, str(path))
            chunk = []
    if chunk:
        _apply(factory, chunk, key, report, str(path))
    return report


def _apply(
    factory: sessionmaker[Session],
    rows: list[MemberRow],
    key: bytes,
    report: MembersReport,
    path: str,
) -> None:
    with factory() as s, s.begin():
        citizens = {r.citizen_id for r in rows}
        accounts = {
            a.citizen_id: a
            for a in s.scalars(select(Account).where(Account.citizen_id.in_(citizens)))
        }
        existing = {
            (m.program, m.member_id): m
            for m in s.scalars(
                select(Member).where(Member.member_id.in_({r.member_id for r in rows}))
            )
        }
        for r in rows:
            acc = accounts.get(r.citizen_id)
            if acc is None:
                acc = Account(
                    account_id="0x" + account_id(r.citizen_id, key).hex(),
                    citizen_id=r.citizen_id,
                    district=r.district,
                    donation_consent=r.donation_consent,
                )
                s.add(acc)
                accounts[r.citizen_id] = acc
                report.accounts_created += 1
            elif (acc.district, acc.donation_consent) != (r.district, r.donation_consent):
                acc.district, acc.donation_consent = r.district, r.donation_consent
                report.updated += 1
            m = existing.get((r.program.name, r.member_id))
            if m is None:
                s.add(
                    Member(
                        program=r.program.name,
                        member_id=r.member_id,
                        account_id=acc.account_id,
                        district=r.district,
                    )
                )
                report.members_created += 1
            elif m.account_id != acc.account_id:
                report.rejects.append(
                    Reject(
                        path,
                        r.line,
                        f"member_id: {r.member_id} ({r.program.name}) is linked to another citizen;"
                        " linking two accounts is an account merge (`mileage members merge`)",
                    )
                )
            else:
                report.unchanged += 1
