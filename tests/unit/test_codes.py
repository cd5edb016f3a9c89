"""The codes must equal docs/DESIGN.md (and contracts/types/Codes.sol)."""

import pytest

from ledger.domain.codes import AWARDED_PROGRAMS, EntryKind, Program, Reason
from ledger.domain.errors import InvalidValue, UnknownProgramName


def test_program_codes() -> None:
    assert {p.name: p.value for p in Program} == {
        "ECO_HOUSEHOLD": 1,
        "ECO_ORG": 2,
        "CAR": 3,
        "BIKE": 4,
        "ECO_SEASON": 5,
        "CAR_SEASON": 6,
        "SEOUL": 7,
    }
    assert Program.SEOUL not in AWARDED_PROGRAMS


def test_entry_kinds() -> None:
    assert [(k.name, k.value) for k in EntryKind] == [
        ("GRANT", 1),
        ("CONVERSION_OUT", 2),
        ("CONVERSION_IN", 3),
        ("DEDUCTION", 4),
        ("EXPIRY", 5),
        ("CORRECTION", 6),
        ("MERGE_OUT", 7),
        ("MERGE_IN", 8),
    ]
    credits = {k for k in EntryKind if k.is_credit}
    assert credits == {EntryKind.GRANT, EntryKind.CONVERSION_IN, EntryKind.MERGE_IN}


def test_reasons() -> None:
    assert [r.name for r in sorted(Reason)] == [
        "NONE",
        "CONVERSION",
        "TAX_PAYMENT",
        "CASH",
        "GIFT_CERTIFICATE",
        "APARTMENT_FEE",
        "TRANSIT_CARD",
        "ECO_PRODUCT",
        "BIKE_PASS",
        "DONATION",
        "EXPIRY",
        "EXPIRY_DONATION",
        "CORRECTION",
        "MERGE",
    ]
    assert [r.value for r in sorted(Reason)] == list(range(14))


def test_program_parse_takes_names_in_any_case() -> None:
    assert Program.parse("car") is Program.CAR
    assert Program.parse(" Eco_Household ") is Program.ECO_HOUSEHOLD
    assert Program.parse("BIKE", AWARDED_PROGRAMS) is Program.BIKE


@pytest.mark.parametrize("text", ["CARS", "", "3", "CAR BIKE", "SEOUL\x00", "car_"])
def test_program_parse_refuses_what_is_no_program_and_names_the_programs(text: str) -> None:
    with pytest.raises(UnknownProgramName) as caught:
        Program.parse(text)
    assert isinstance(caught.value, InvalidValue) and caught.value.field == "program"
    assert "is not a program; use one of ECO_HOUSEHOLD, ECO_ORG, CAR, BIKE, ECO_SEASON, " in str(
        caught.value
    )
    assert caught.value.allowed == tuple(p.name for p in Program)


def test_program_parse_refuses_a_program_outside_those_allowed() -> None:
    with pytest.raises(UnknownProgramName, match="'seoul' is not allowed here") as caught:
        Program.parse("seoul", AWARDED_PROGRAMS)
    assert caught.value.allowed == tuple(p.name for p in AWARDED_PROGRAMS)
