"""Donation consent reaches the chain, with evidence (issue 14 item 5), against a real anvil and
real databases (SQLite and PostgreSQL): the members import appends the consent history and
queues ``setDonationConsent`` in its own transaction; the bridge submitter sends it; re-imports
change nothing; withdrawals reach the chain; a crash between queueing and sending loses
nothing; ``members sync-consent`` repairs a chain that drifted; ``mileage audit verify`` flags
an expiry whose reason disagrees with the consent on chain at that moment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bridge.proofs import account_slot
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.orm import ChainTx, Operation
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.report import fiscal_year_of
from ledger.service.report import build_report
from ledger.service.runtime import Runtime
from ledger.settings import get_settings
from tests.integration.cli_helpers import acc, cli, cli_env, mirror, write
from tests.integration.conftest import ADMIN_KEY

HEADER = (
    "member_id,program,citizen_id,district,donation_consent,consent_at,terms_version,"
    "consent_channel,joined_at"
)
CONSENT_BIT = 1 << 48  # bridge/proofs.py: the account word's donation-consent bit


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with cli_env(db_url, tmp_path, monkeypatch, ADMIN_KEY, deploy=True):
        runtime = Runtime.open(get_settings())
        yield runtime
        runtime.close()


def members(tmp_path: Path, name: str, *rows: str) -> Path:
    return write(tmp_path / name, "\n".join((HEADER, *rows)))


def consent_ops(rt: Runtime) -> list[tuple[str, str, str]]:
    """(account, reason, status) of every consent operation, oldest first."""
    with rt.sessions() as s:
        rows = s.execute(
            sa.select(Operation.account_id, Operation.reason, Operation.status)
            .where(Operation.kind == "consent")
            .order_by(Operation.created_at, Operation.op_id)
        )
        return [(a, r or "", st) for a, r, st in rows]


def history(rt: Runtime, citizen: str) -> list[tuple[bool, str, str, str]]:
    """(consent, date, terms version, channel) of ``citizen``'s consent history, in order."""
    from ledger.adapters.orm import ConsentChange  # new in revision 0014

    account = "0x" + acc(citizen).hex()
    with rt.sessions() as s:
        rows = s.scalars(
            sa.select(ConsentChange)
            .where(ConsentChange.account_id == account)
            .order_by(ConsentChange.id)
        )
        return [(c.consent, str(c.at)[:10], c.terms_version, c.channel) for c in rows]


def on_chain(rt: Runtime, citizen: str) -> bool:
    return bool(rt.client.account_state(acc(citizen)).donation)


def test_import_sends_consent_reimport_is_idempotent_and_withdrawal_reaches_chain(
    rt: Runtime, tmp_path: Path
) -> None:
    first = members(
        tmp_path,
        "members.csv",
        "H1,ECO_HOUSEHOLD,C1,Mapo-gu,true,2025-01-10,v2,app,2019-03-02",
        "H2,ECO_HOUSEHOLD,C2,Jung-gu,false,,,,2019-03-02",
    )
    out = cli("members", "import", str(first))
    assert "1 queued for the chain" in out
    assert history(rt, "C1") == [(True, "2025-01-10", "v2", "app")]
    assert history(rt, "C2") == [(False, history(rt, "C2")[0][1], "unspecified", "members-file")]
    assert [(r, st) for _, r, st in consent_ops(rt)] == [("consent", "pending")]

    # No extra command: the bridge's submitter (dev key: every lane) sends it.
    mirror(rt, ADMIN_KEY)
    assert on_chain(rt, "C1") is True and on_chain(rt, "C2") is False
    assert [st for _, _, st in consent_ops(rt)] == ["final"]

    # The same file again: no history row, no operation, no transaction.
    cli("members", "import", str(first))
    assert len(history(rt, "C1")) == 1 and len(consent_ops(rt)) == 1

    # C1 withdraws, C2 consents.
    second = members(
        tmp_path,
        "members-2.csv",
        "H1,ECO_HOUSEHOLD,C1,Mapo-gu,false,2025-06-01,v3,call-centre,2019-03-02",
        "H2,ECO_HOUSEHOLD,C2,Jung-gu,true,2025-06-02,v3,web,2019-03-02",
    )
    assert "2 changes recorded, 2 queued" in cli("members", "import", str(second))
    assert history(rt, "C1")[-1] == (False, "2025-06-01", "v3", "call-centre")
    mirror(rt, ADMIN_KEY)
    assert on_chain(rt, "C1") is False and on_chain(rt, "C2") is True
    # sync-consent (the repair command) finds nothing to do
    assert "queued for 0 accounts" in cli("members", "sync-consent")


def test_a_change_before_sending_supersedes_the_pending_one(rt: Runtime, tmp_path: Path) -> None:
    cli(
        "members",
        "import",
        str(members(tmp_path, "a.csv", "H1,ECO_HOUSEHOLD,C1,,true,2025-01-01,v2,app,2019-03-02")),
    )
    cli(
        "members",
        "import",
        str(members(tmp_path, "b.csv", "H1,ECO_HOUSEHOLD,C1,,false,2025-02-01,v2,app,2019-03-02")),
    )
    assert [(r, st) for _, r, st in consent_ops(rt)] == [
        ("consent", "failed"),
        ("withdrawal", "pending"),
    ]
    mirror(rt, ADMIN_KEY)
    assert on_chain(rt, "C1") is False


class Crash(BaseException):
    """The process dies (after the transaction was signed and stored, before it was sent)."""


def test_crash_between_queue_and_send_loses_nothing(rt: Runtime, tmp_path: Path) -> None:
    cli(
        "members",
        "import",
        str(members(tmp_path, "a.csv", "H1,ECO_HOUSEHOLD,C1,,true,,,,2019-03-02")),
    )
    sub = Submitter(rt.sessions, rt.client, signer_from_key(ADMIN_KEY), rt.settings)

    def die(*_a: object, **_k: object) -> None:
        raise Crash

    sub._send = die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        sub.run_until_idle()
    assert [st for _, _, st in consent_ops(rt)] == ["signed"]
    assert on_chain(rt, "C1") is False

    # A new process sends the stored bytes: one transaction, consent on chain.
    mirror(rt, ADMIN_KEY)
    assert on_chain(rt, "C1") is True
    assert [st for _, _, st in consent_ops(rt)] == ["final"]
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ChainTx)) == 1


def test_sync_consent_repairs_a_drifted_chain(rt: Runtime, tmp_path: Path) -> None:
    cli(
        "members",
        "import",
        str(members(tmp_path, "a.csv", "H1,ECO_HOUSEHOLD,C1,,true,,,,2019-03-02")),
    )
    mirror(rt, ADMIN_KEY)
    _forge_consent(rt, "C1", False)  # the chain lost the flag
    assert "queued for 1 accounts" in cli("members", "sync-consent")
    assert "queued for 0 accounts" in cli("members", "sync-consent")  # already on its way
    mirror(rt, ADMIN_KEY)
    assert on_chain(rt, "C1") is True


def _forge_consent(rt: Runtime, citizen: str, consent: bool) -> None:
    """Flip the consent bit in the contract's storage: no DonationConsentSet event."""
    dep = rt.deployment()
    assert dep is not None
    slot = hex(account_slot(acc(citizen)))
    word = int(
        rt.w3.provider.make_request("eth_getStorageAt", [dep.address, slot, "latest"])["result"], 16
    )  # type: ignore[arg-type]
    word = word | CONSENT_BIT if consent else word & ~CONSENT_BIT
    rt.w3.provider.make_request("anvil_setStorageAt", [dep.address, slot, "0x" + f"{word:064x}"])  # type: ignore[arg-type]
    rt.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert on_chain(rt, citizen) is consent


def _award_and_lapse(rt: Runtime, tmp_path: Path, members_file: Path) -> None:
    cli("members", "import", str(members_file))
    car = write(
        tmp_path / "car.csv",
        "member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,seoul_registered,"
        "commercial,seats\n"
        "V1,11GA1111,2025-05,2025-10,6000,4500,true,false,5\n"
        "V2,22NA2222,2025-05,2025-10,5000,4000,true,false,5\n",
    )
    assert "recorded 2 awards" in cli("feeds", "import", "--program", "CAR", str(car))
    mirror(rt, ADMIN_KEY)


def _expire(rt: Runtime) -> None:
    rt.w3.provider.make_request("evm_increaseTime", [1827 * 86400])  # type: ignore[arg-type]
    rt.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert "100,000 mileage expired" in cli("expire", "--program", "CAR")


def _last_reason(rt: Runtime, citizen: str) -> Reason:
    entries = rt.client.entry_logs(0, rt.w3.eth.block_number, [acc(citizen)])
    assert entries[-1].kind == EntryKind.EXPIRY
    return Reason(entries[-1].reason)


def test_expiry_follows_imported_consent_and_audit_agrees(rt: Runtime, tmp_path: Path) -> None:
    file = members(
        tmp_path,
        "m.csv",
        "V1,CAR,C1,Mapo-gu,true,2024-01-01,v2,app,2019-03-02",
        "V2,CAR,C2,Jung-gu,false,,,,2019-03-02",
    )
    _award_and_lapse(rt, tmp_path, file)
    assert rt.client.balance_of(acc("C1"), Program.CAR) == 50_000
    _expire(rt)
    assert _last_reason(rt, "C1") is Reason.EXPIRY_DONATION
    assert _last_reason(rt, "C2") is Reason.EXPIRY
    out = cli("audit", "verify")
    assert "OK" in out and "MISMATCH" not in out


def test_audit_flags_an_expiry_reason_the_consent_events_contradict(
    rt: Runtime, tmp_path: Path
) -> None:
    file = members(
        tmp_path, "m.csv", "V1,CAR,C1,,false,,,,2019-03-02", "V2,CAR,C2,,false,,,,2019-03-02"
    )
    _award_and_lapse(rt, tmp_path, file)
    _forge_consent(rt, "C1", True)  # consent without the event (and without the database)
    _expire(rt)
    assert _last_reason(rt, "C1") is Reason.EXPIRY_DONATION
    out = cli("audit", "verify", code=1)
    account = "0x" + acc("C1").hex()
    lines = [line for line in out.splitlines() if line.startswith("MISMATCH")]
    assert len(lines) == 1, out
    assert account in lines[0] and "EXPIRY_DONATION" in lines[0] and "block " in lines[0]
    assert "consent on chain was false" in lines[0]


def test_report_expired_and_donated_equal_a_replay_of_the_events(
    rt: Runtime, tmp_path: Path
) -> None:
    """Issue 16: `mileage report` keeps what expired and what was donated on expiry (owed to the
    energy welfare fund) apart, per program and fiscal year, and both equal the chain's events."""
    file = members(
        tmp_path,
        "m.csv",
        "V1,CAR,C1,Mapo-gu,true,2024-01-01,v2,app,2019-03-02",
        "V2,CAR,C2,Jung-gu,false,,,,2019-03-02",
    )
    _award_and_lapse(rt, tmp_path, file)
    _expire(rt)
    mirror(rt, ADMIN_KEY)  # index the expiries
    want: dict[tuple[str, int], dict[str, int]] = {}
    for e in rt.client.entry_logs(0, rt.w3.eth.block_number, [acc("C1"), acc("C2")]):
        if e.kind != EntryKind.EXPIRY:
            continue
        f = want.setdefault((Program(e.program).name, fiscal_year_of(e.timestamp)), {})
        name = "donated" if e.reason == Reason.EXPIRY_DONATION else "expired"
        f[name] = f.get(name, 0) + e.amount
    assert want and all(set(f) == {"donated", "expired"} for f in want.values())
    with rt.sessions() as s:
        rep = build_report(s)
    for key, f in want.items():
        got = rep.years[key]
        assert (
            (got.donated, got.expired)
            == (f["donated"], f["expired"])
            == (
                50_000,
                50_000,
            )
        )
        assert got.outstanding == 0
