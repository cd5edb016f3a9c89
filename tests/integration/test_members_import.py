"""`members import` against a real database (SQLite and PostgreSQL): the feeds' reader (true
line numbers, decoding errors as rejects), the one member-id rule, all or nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Account, Member
from ledger.service.members import import_members

KEY = b"members-import-test-account-key-32"
HEADER = b"member_id,program,citizen_id,district,donation_consent\n"


def counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as s:
        members = s.scalar(sa.select(sa.func.count()).select_from(Member)) or 0
        accounts = s.scalar(sa.select(sa.func.count()).select_from(Account)) or 0
        return members, accounts


def test_bad_fields_are_rejected_on_their_line_and_nothing_is_recorded(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(
        HEADER
        + b"B1,BIKE,C1,D01,false\n"
        + b'B2,BIKE,C2,"Mapo\ngu",false\n'  # a record on lines 3-4
        + b"B\t3,BIKE,C3,D01,false\n"
        + b"B4,BIKE,C4,"
        + b"D" * 5000
        + b",false\n"
        + b"B5,BIKE,"
        + b"C" * 129
        + b",D01,false\n"
        + b"M" * 65
        + b",BIKE,C6,D01,false\n"
    )
    report = import_members(session_factory, path, KEY)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (
            3,
            "district: contains the control character U+000A at position 5; remove tabs, "
            "line breaks and other invisible characters",
        ),
        (
            5,
            "member_id: contains the control character U+0009 at position 2; remove tabs, "
            "line breaks and other invisible characters",
        ),
        (6, "district: has 5000 characters; at most 64 are allowed"),
        (7, "citizen_id: has 129 characters; at most 128 are allowed"),
        (8, "member_id: has 65 characters; at most 64 are allowed"),
    ]
    assert counts(session_factory) == (0, 0)  # B1 is not recorded either


def test_decoding_error_after_many_rows_is_a_reject_and_nothing_is_recorded(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """The old import committed 2,000 rows, then crashed with a raw UnicodeDecodeError."""
    path = tmp_path / "members.csv"
    rows = b"".join(b"B%d,BIKE,C%d,D01,false\n" % (i, i) for i in range(2_400))
    path.write_bytes(HEADER + rows + b"B\xe9,BIKE,CX,D01,false\n")
    report = import_members(session_factory, path, KEY)
    assert [(r.line, r.reason[:31]) for r in report.rejects] == [
        (2_402, "not valid UTF-8 at byte 2 of th")
    ]
    assert counts(session_factory) == (0, 0)


def test_a_good_file_is_recorded(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(HEADER + b"B1,BIKE,C1,D01,false\nV1,CAR,C1,D01,true\n")
    report = import_members(session_factory, path, KEY)
    assert report.rejects == [] and report.committed
    assert counts(session_factory) == (2, 1)
