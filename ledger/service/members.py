"""Import program memberships and map them to unified citizen accounts.

CSV columns: ``member_id, program, citizen_id, district, donation_consent`` and optionally
``joined_at`` (the sign-up date in the program's own system, ``YYYY-MM-DD``; without it, or
with the cell empty, a new member gets the import date and the report counts it in
``joined_at_fallback``), and the consent's evidence ``consent_at`` (``YYYY-MM-DD``, default: the
import time), ``terms_version`` (default ``unspecified``) and ``consent_channel`` (default
``members-file``): every new account and every consent change is appended to the consent
history and queued for the chain (ledger.service.consent) in the import's transaction. Each
citizen has one
account whose on-chain id is HMAC-SHA256(citizen id) (ledger.domain.accounts); the citizen id
stays in the database. Re-importing the same file changes nothing; a member id already linked to
another citizen is rejected (linking accounts is an on-chain merge, never an edit); a changed
district or donation consent is an update of the citizen's record and is reported as such.

All or nothing: the file is read with the feeds' reader (physical line numbers, a decoding
error is a reject naming its line) and applied in one transaction, rolled back if any row is
rejected. Member ids follow the one member-id rule of the feeds (ledger.feeds.fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Account, Member
from ledger.domain.accounts import account_id
from ledger.domain.codes import Program
from ledger.domain.errors import FeedError
from ledger.feeds.fields import CITIZEN_ID_MAX, DISTRICT_MAX, member_id_problem, text_problem
from ledger.feeds.model import Reject
from ledger.feeds.reader import RowProblem, read_rows
from ledger.service.consent import DEFAULT_CHANNEL, DEFAULT_TERMS, record_consent

COLUMNS = ("member_id", "program", "citizen_id", "district", "donation_consent")
OPTIONAL = ("joined_at", "consent_at", "terms_version", "consent_channel")
EVIDENCE_MAX = 32
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
    joined_at: date | None = None
    """None: the file does not say (a new member gets the import date)."""
    consent_at: date | None = None
    """None: the file does not say (the import time)."""
    terms_version: str = DEFAULT_TERMS
    consent_channel: str = DEFAULT_CHANNEL


@dataclass
class MembersReport:
    """What a members import did."""

    accounts_created: int = 0
    members_created: int = 0
    unchanged: int = 0
    updated: int = 0
    consent_changes: int = 0
    """Consents and withdrawals of existing accounts (each queued for the chain)."""
    consent_queued: int = 0
    """Chain updates queued (consent changes and new consenting accounts)."""
    joined_at_fallback: int = 0
    """New members without a `joined_at`: their sign-up date is the import date."""
    rejects: list[Reject] = field(default_factory=list)
    committed: bool = False
    """False when something was rejected: then nothing was recorded (the counts say what
    would have been)."""


def parse_members(path: Path) -> Iterator[MemberRow | Reject]:
    """Stream the rows of a members CSV; a bad row (or file) becomes a :class:`Reject`."""
    file = str(path)
    seen: set[tuple[str, str]] = set()
    try:
        for item in read_rows(path, COLUMNS, OPTIONAL):
            if isinstance(item, RowProblem):
                yield Reject(file, item.line, item.message)
                continue
            line, cells = item
            yield _row(file, line, cells, seen)
    except FeedError as error:
        yield Reject(error.file, error.line, error.problem)


def _row(
    path: str, line: int, cells: dict[str, str], seen: set[tuple[str, str]]
) -> MemberRow | Reject:
    member_id, program_s, citizen_id, district, consent = (cells[c].strip() for c in COLUMNS)
    problems: list[str] = []
    problem = member_id_problem(member_id)
    if problem is not None:
        problems.append(f"member_id: {problem}")
    program = Program.__members__.get(program_s)
    if program is None:
        problems.append(f"program: unknown program {program_s[:40]!r}")
    elif program is Program.SEOUL:
        problems.append("program: SEOUL has no members (it is reached by conversion)")
    if not citizen_id:
        problems.append("citizen_id: is empty; a value is required")
    elif (problem := text_problem(citizen_id, CITIZEN_ID_MAX)) is not None:
        problems.append(f"citizen_id: {problem}")
    if (problem := text_problem(district, DISTRICT_MAX)) is not None:
        problems.append(f"district: {problem}")
    if consent.lower() not in TRUE | FALSE:
        problems.append(f"donation_consent: {consent[:40]!r} is not true/false")
    joined_at, problem = parse_joined_at(cells.get("joined_at", "").strip())
    if problem is not None:
        problems.append(f"joined_at: {problem}")
    consent_at, problem = parse_joined_at(cells.get("consent_at", "").strip())
    if problem is not None:
        problems.append(f"consent_at: {problem}")
    evidence: dict[str, str] = {}
    for col, default in (("terms_version", DEFAULT_TERMS), ("consent_channel", DEFAULT_CHANNEL)):
        text = cells.get(col, "").strip()
        if (problem := text_problem(text, EVIDENCE_MAX)) is not None:
            problems.append(f"{col}: {problem}")
        evidence[col] = text or default
    if problems or program is None:
        return Reject(path, line, "; ".join(problems))
    if (program.name, member_id) in seen:
        return Reject(path, line, f"member_id: {member_id} appears twice for {program.name}")
    seen.add((program.name, member_id))
    consenting = consent.lower() in TRUE
    return MemberRow(
        line,
        member_id,
        program,
        citizen_id,
        district,
        consenting,
        joined_at,
        consent_at,
        evidence["terms_version"],
        evidence["consent_channel"],
    )


def parse_joined_at(text: str, today: date | None = None) -> tuple[date | None, str | None]:
    """The sign-up date in `text` (``YYYY-MM-DD``, empty: None) and what is wrong, if anything."""
    if not text:
        return None, None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return None, f"{text[:40]!r} is not a date YYYY-MM-DD"
    if day > (today or datetime.now(UTC).date()):
        return None, f"{text} is in the future; give the date the member signed up"
    return day, None


def import_members(factory: sessionmaker[Session], path: Path, key: bytes) -> MembersReport:
    """Import ``path`` in one transaction: if any row is rejected, nothing is recorded."""
    report = MembersReport()
    chunk: list[MemberRow] = []
    with factory() as session:
        try:
            for item in parse_members(path):
                if isinstance(item, Reject):
                    report.rejects.append(item)
                    continue
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    _apply(session, chunk, key, report, str(path))
                    chunk = []
            if chunk:
                _apply(session, chunk, key, report, str(path))
            if report.rejects:
                session.rollback()
            else:
                session.commit()
                report.committed = True
        except BaseException:
            session.rollback()
            raise
    return report


def _apply(
    s: Session,
    rows: list[MemberRow],
    key: bytes,
    report: MembersReport,
    path: str,
) -> None:
    citizens = {r.citizen_id for r in rows}
    accounts = {
        a.citizen_id: a for a in s.scalars(select(Account).where(Account.citizen_id.in_(citizens)))
    }
    today = datetime.now(UTC).date()
    existing = {
        (m.program, m.member_id): m
        for m in s.scalars(select(Member).where(Member.member_id.in_({r.member_id for r in rows})))
    }
    now = datetime.now(UTC)
    for r in rows:
        acc = accounts.get(r.citizen_id)
        at = now if r.consent_at is None else datetime(*r.consent_at.timetuple()[:3], tzinfo=UTC)
        source = f"members import {Path(path).name} line {r.line}"
        if acc is None:
            acc = Account(
                account_id="0x" + account_id(r.citizen_id, key).hex(),
                citizen_id=r.citizen_id,
                district=r.district,
                donation_consent=False,
            )
            s.add(acc)
            accounts[r.citizen_id] = acc
            report.accounts_created += 1
            _consent(s, acc, r, at, source, on_chain=False)
            report.consent_queued += int(r.donation_consent)
        elif acc.donation_consent != r.donation_consent:
            _consent(s, acc, r, at, source, on_chain=acc.donation_consent)
            report.consent_changes += 1
            report.consent_queued += 1
            acc.district = r.district
            report.updated += 1
        elif acc.district != r.district:
            acc.district = r.district
            report.updated += 1
        m = existing.get((r.program.name, r.member_id))
        if m is None:
            if r.joined_at is None:
                report.joined_at_fallback += 1
            s.add(
                Member(
                    program=r.program.name,
                    member_id=r.member_id,
                    account_id=acc.account_id,
                    district=r.district,
                    joined_at=r.joined_at or today,
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
        elif r.joined_at is not None and m.joined_at != r.joined_at:
            m.joined_at = r.joined_at  # the program's system corrected the sign-up date
            report.updated += 1
        else:
            report.unchanged += 1
    s.flush()


def _consent(
    s: Session, acc: Account, r: MemberRow, at: datetime, source: str, *, on_chain: bool
) -> None:
    record_consent(
        s,
        acc,
        r.donation_consent,
        at=at,
        terms_version=r.terms_version,
        channel=r.consent_channel,
        source=source,
        on_chain=on_chain,
    )
