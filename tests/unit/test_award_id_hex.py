"""`awards.award_id_hex` (a payout's many ids, the prefix hashed once) gives exactly
`awards.award_id`'s id, and refuses exactly what it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.errors import InvalidValue, KeyNotConfigured

TEXT = st.text(st.sampled_from("Bb01 |\t\n가-"), max_size=8)
KEY = st.one_of(st.binary(min_size=32, max_size=80), st.just(b"k" * 64), st.just(b"k" * 65))


@given(program=st.sampled_from(list(Program)), member=TEXT, period=TEXT, key=KEY)
def test_award_id_hex_is_award_id(program: Program, member: str, period: str, key: bytes) -> None:
    hex_id = awards.award_id_hex(program, key)
    try:
        expected = "0x" + awards.award_id(program, member, period, key).hex()
    except InvalidValue as e:  # InvalidPeriod is one
        with pytest.raises(type(e)):
            hex_id(member, period)
        return
    assert hex_id(member, period) == expected
    assert hex_id(member, period) == expected  # the shared prefix state is not consumed


def test_award_id_hex_refuses_a_short_key() -> None:
    with pytest.raises(KeyNotConfigured):
        awards.award_id_hex(Program.BIKE, b"k" * 31)
