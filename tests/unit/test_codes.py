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
        ("REFUND", 9),
    ]
    credits = {k for k in EntryKind if k.is_credit}
    assert credits == {
        EntryKind.GRANT,
        EntryKind.CONVERSION_IN,
        EntryKind.MERGE_IN,
        EntryKind.REFUND,
    }


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
        "CARD_POINTS",
    ]
    assert [r.value for r in sorted(Reason)] == list(range(15))


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


def test_codes_sol_mirrors_python() -> None:
    """Every kind and reason of contracts/types/Codes.sol has its Python twin, same value."""
    import re
    from pathlib import Path

    sol = (Path(__file__).parents[2] / "contracts/types/Codes.sol").read_text()
    consts = {m[1]: int(m[2]) for m in re.finditer(r"uint8 constant (\w+) = (\d+);", sol)}
    kinds = {k[5:]: v for k, v in consts.items() if k.startswith("KIND_")}
    reasons = {k[7:]: v for k, v in consts.items() if k.startswith("REASON_")}
    assert kinds == {k.name: k.value for k in EntryKind}
    assert reasons == {r.name: r.value for r in Reason}


def test_console_codes_mirror_python() -> None:
    """The auditor console recomputes heads in the browser with its own code tables."""
    import re
    from pathlib import Path

    js = (Path(__file__).parents[2] / "api/console/hashchain.js").read_text()

    def table(name: str) -> dict[str, int]:
        body = re.search(rf"export const {name} = \{{(.*?)\}};", js, re.S)
        assert body is not None, name
        return {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", body.group(1))}

    assert table("KINDS") == {k.name: k.value for k in EntryKind}
    assert table("REASONS") == {r.name: r.value for r in Reason}
    assert table("PROGRAMS") == {p.name: p.value for p in Program}
