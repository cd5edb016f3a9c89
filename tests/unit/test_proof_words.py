"""The storage words the proofs decode (contracts/types/Position.sol, AccountWord.sol): the
position word's 40-bit fields and the account's eight consecutive slots."""

from eth_hash.auto import keccak

from bridge import proofs

ACCOUNT = bytes.fromhex("ab" * 32)


def test_position_word_fields() -> None:
    word = (
        1_000_000_000_000  # granted, 40 bits
        | (999_999_999_999 << 40)  # debited
        | (1_900_000_000 << 80)  # lastTime
        | (1_800_000_000 << 112)  # oldest
        | (65_535 << 144)  # live count
        | (((1 << 96) - 1) << 160)  # root
    )
    p = proofs.position_of_word(word)
    assert (p.granted, p.debited, p.balance) == (1_000_000_000_000, 999_999_999_999, 1)
    assert (p.last_time, p.oldest, p.live, p.root) == (
        1_900_000_000,
        1_800_000_000,
        65_535,
        2**96 - 1,
    )
    assert proofs.balance_of_word(word) == 1
    assert proofs.balance_of_word(0) == 0


def test_slots_are_the_accounts_array() -> None:
    base = int.from_bytes(keccak(ACCOUNT + (3).to_bytes(32, "big")), "big")
    assert proofs.account_slot(ACCOUNT) == base
    labelled = proofs.account_slots(ACCOUNT)
    assert [slot for _, slot in labelled] == [base + i for i in range(8)]
    assert [label for label, _ in labelled][:2] == ["account", "balance:ECO_HOUSEHOLD"]
    assert labelled[-1][0] == "balance:SEOUL"
