"""The secrets behind the on-chain ids (docs/keys.md): keyed, reproducible, refused when missing or
public outside the embedded demo."""

from pathlib import Path

import pytest
from eth_hash.auto import keccak
from pydantic import SecretStr

from api.services.operations import operation_id
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.errors import KeyNotConfigured
from ledger.domain.keys import DEMO_ACCOUNT_KEY, DEMO_KEYS, DEMO_REF_KEY, IdKeys
from ledger.feeds import iter_awards
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, KEYS, REF_KEY

OTHER = IdKeys.from_secrets(ACCOUNT_KEY.encode(), b"another-ref-key-0123456789abcdef-0123")


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RPC_URL", "DATABASE_URL", "ACCOUNT_KEY", "REF_KEY"):
        monkeypatch.delenv(f"MILEAGE_{name}", raising=False)


def settings(**values: object) -> Settings:
    """Settings from explicit values only (no environment, no .env)."""
    return Settings.model_validate(values)


def test_award_ids_are_reproducible_with_the_key_and_differ_without() -> None:
    again = IdKeys.from_secrets(ACCOUNT_KEY.encode(), REF_KEY.encode())
    one = awards.award_id(Program.BIKE, "12345", "2025-05", KEYS.award)
    assert one == awards.award_id(Program.BIKE, "12345", "2025-05", again.award)
    assert one != awards.award_id(Program.BIKE, "12345", "2025-05", OTHER.award)
    assert one != awards.award_id(Program.BIKE, "12345", "2025-05", DEMO_KEYS.award)
    assert one != keccak(b"mileage-award|BIKE|12345|2025-05")


def test_each_purpose_has_its_own_key() -> None:
    parts = {KEYS.account, KEYS.award, KEYS.operation, REF_KEY.encode()}
    assert len(parts) == 4
    assert "secret" in repr(KEYS) and REF_KEY not in repr(KEYS)


def test_award_id_refuses_a_missing_key() -> None:
    with pytest.raises(KeyNotConfigured, match="award key"):
        awards.award_id(Program.BIKE, "1", "2025-05", b"")


def test_feed_without_award_key_is_refused(tmp_path: Path) -> None:
    feed = tmp_path / "bike.csv"
    feed.write_text(
        "member_id,month,ride_days,ride_minutes,pass_365\n1,2025-05,12,100,true\n", encoding="utf-8"
    )
    with pytest.raises(KeyNotConfigured, match=r"FeedOptions\.award_key"):
        list(iter_awards(Program.BIKE, feed))


def test_operation_ids_are_keyed() -> None:
    scoped = "key-1:order-77"
    one = operation_id("deduction", scoped, KEYS.operation)
    assert one == operation_id("deduction", scoped, KEYS.operation)
    assert one != operation_id("deduction", scoped, OTHER.operation)
    assert one != "0x" + keccak(f"mileage-op|deduction|{scoped}".encode()).hex()


def test_embedded_demo_runs_on_the_demo_keys() -> None:
    assert settings().embedded_demo
    assert settings().id_keys() == DEMO_KEYS


EXTERNAL = [
    {"rpc_url": "http://127.0.0.1:1"},
    {"database_url": "sqlite:///x.db"},
    {"rpc_url": "http://127.0.0.1:1", "database_url": "postgresql://db/ledger"},
]


@pytest.mark.parametrize("where", EXTERNAL, ids=["rpc", "database", "both"])
def test_outside_the_demo_a_missing_key_is_refused_by_name(where: dict[str, str]) -> None:
    with pytest.raises(KeyNotConfigured) as err:
        settings(**where).id_keys()
    assert str(err.value).startswith(
        "MILEAGE_ACCOUNT_KEY is not set (or is the public demo key); set it to a 32-byte secret"
    )
    assert "docs/keys.md" in str(err.value)
    with pytest.raises(KeyNotConfigured, match=r"^MILEAGE_REF_KEY is not set"):
        settings(**where, account_key=SecretStr(ACCOUNT_KEY)).id_keys()


@pytest.mark.parametrize(
    ("account", "ref", "message"),
    [
        (DEMO_ACCOUNT_KEY, REF_KEY, "^MILEAGE_ACCOUNT_KEY is not set \\(or is the public demo"),
        (ACCOUNT_KEY, DEMO_REF_KEY, "^MILEAGE_REF_KEY is not set \\(or is the public demo"),
        ("short-key", REF_KEY, "^MILEAGE_ACCOUNT_KEY has 9 bytes, fewer than 32"),
        (ACCOUNT_KEY, "  ", "^MILEAGE_REF_KEY is not set"),
        (ACCOUNT_KEY, ACCOUNT_KEY, "^MILEAGE_REF_KEY is the same secret as MILEAGE_ACCOUNT_KEY"),
    ],
    ids=["demo-account", "demo-ref", "short", "blank", "same"],
)
def test_outside_the_demo_public_or_weak_keys_are_refused(
    account: str, ref: str, message: str
) -> None:
    s = settings(rpc_url="http://127.0.0.1:1", account_key=account, ref_key=ref)
    with pytest.raises(KeyNotConfigured, match=message):
        s.id_keys()


def test_outside_the_demo_the_configured_keys_are_used() -> None:
    s = settings(rpc_url="http://127.0.0.1:1", account_key=ACCOUNT_KEY, ref_key=REF_KEY)
    assert s.id_keys() == KEYS


@pytest.mark.parametrize("length", [0, 1, 31, 32, 63, 64, 65, 100, 200])
def test_keyed_hash_is_hmac_sha256(length: int) -> None:
    """The cached-pad HMAC (ledger.domain.keys) equals the standard library's, for keys
    shorter, as long as and longer than SHA-256's block, more keys than the cache holds, and
    non-ASCII messages."""
    import hashlib
    import hmac

    from ledger.domain import keys

    for i in range(keys._PADS_MAX + 3):
        key = bytes((length * 7 + i + j) % 256 for j in range(length))
        for message in ("", "mileage-award|BIKE|B1|2024-05", f"회원{i}|\u200b" * (i + 1)):
            expected = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
            assert keys.keyed_hash(key, message) == expected
            assert keys.keyed_hash(key, message) == expected  # from the cache
