"""Every role-gated function rejects outsiders with OpenZeppelin's custom error; admin calls;
pause."""

from __future__ import annotations

import pytest
from ledger_helpers import (
    BIKE,
    CAR,
    ECO_HOUSEHOLD,
    ECO_ORG,
    MAX_AWARD,
    SEOUL,
    TAX_PAYMENT,
    VALIDITY,
    acct,
    award_id,
)

ZERO = b"\x00" * 32
A = acct("roles")
NO_LISTS = [[] for _ in range(7)]

# (function, args, role constant name or None for DEFAULT_ADMIN_ROLE, or ("issuer", program))
GATED = [
    ("registerProgram", (1, VALIDITY, 1, 1), "DEFAULT_ADMIN_ROLE"),
    ("setProgramLimits", (1, 1, 1), "DEFAULT_ADMIN_ROLE"),
    ("setBudget", (1, 2026, 1), "DEFAULT_ADMIN_ROLE"),
    ("setRoute", (1, 7, 1, 1), "DEFAULT_ADMIN_ROLE"),
    ("setPaused", (True,), "PAUSER_ROLE"),
    ("setProgramPaused", (1, True), "PAUSER_ROLE"),
    ("grantBatch", (ECO_HOUSEHOLD, [(A, 1, 1, award_id(1))]), ("issuer", ECO_HOUSEHOLD)),
    ("convert", (A, 1, 7, 1, award_id(1), []), "CONVERTER_ROLE"),
    ("deduct", (A, 1, 1, TAX_PAYMENT, ZERO, []), "SPENDER_ROLE"),
    ("expire", (A, 1, []), "EXPIRER_ROLE"),
    ("expireBatch", (1, [A], [[]]), "EXPIRER_ROLE"),
    ("correct", (A, 1, 1, award_id(1), 0, 1, []), "CORRECTOR_ROLE"),
    ("mergeAccounts", (A, acct("x"), NO_LISTS, NO_LISTS), "REGISTRAR_ROLE"),
    ("setDonationConsent", (A, True), "REGISTRAR_ROLE"),
]


def _role(ledger, role):
    if isinstance(role, tuple):
        return ledger.call("issuerRole", role[1])
    if role == "DEFAULT_ADMIN_ROLE":
        return b"\x00" * 32
    return ledger.call(role)


@pytest.mark.parametrize(("fn", "args", "role"), GATED, ids=[g[0] for g in GATED])
def test_unauthorised_calls_revert(ledger, fn, args, role):
    r = ledger.roles
    needed = _role(ledger, role)
    # The outsider, and every operational key that does not hold this very role.
    others = [
        r.outsider,
        r.issuer,
        r.car_issuer,
        r.converter,
        r.spender,
        r.expirer,
        r.corrector,
        r.registrar,
        r.pauser,
        r.admin,
    ]
    for who in others:
        if ledger.call("hasRole", needed, who):
            continue
        ledger.expect("AccessControlUnauthorizedAccount", who, needed, call=(fn, *args), sender=who)


def test_role_constants(ledger):
    from eth_utils import keccak

    for name in (
        "CONVERTER_ROLE",
        "SPENDER_ROLE",
        "EXPIRER_ROLE",
        "CORRECTOR_ROLE",
        "REGISTRAR_ROLE",
        "PAUSER_ROLE",
    ):
        assert ledger.call(name) == keccak(text=name)
    assert ledger.call("issuerRole", 3) == keccak(b"MILEAGE_ISSUER" + bytes([3]))


def test_admin_is_two_step_with_delay(ledger):
    r = ledger.roles
    assert ledger.call("defaultAdmin") == r.admin
    # Granting DEFAULT_ADMIN_ROLE directly is refused; transfer is begin/accept after the delay.
    ledger.expect(
        "AccessControlEnforcedDefaultAdminRules",
        call=("grantRole", b"\x00" * 32, r.outsider),
        sender=r.admin,
    )
    ledger.tx("beginDefaultAdminTransfer", r.outsider, sender=r.admin)
    ledger.expect(
        "AccessControlEnforcedDefaultAdminDelay",
        call=("acceptDefaultAdminTransfer",),
        sender=r.outsider,
    )
    ledger.mine_at(ledger.now() + 3 * 86400 + 10)
    ledger.tx("acceptDefaultAdminTransfer", sender=r.outsider)
    assert ledger.call("defaultAdmin") == r.outsider


def test_register_program_rules(ledger):
    r = ledger.roles
    ledger.expect(
        "ProgramAlreadyRegistered", 1, call=("registerProgram", 1, VALIDITY, 1, 1), sender=r.admin
    )
    ledger.expect("UnknownProgram", 0, call=("registerProgram", 0, VALIDITY, 1, 1), sender=r.admin)
    ledger.expect("UnknownProgram", 8, call=("registerProgram", 8, VALIDITY, 1, 1), sender=r.admin)
    assert ledger.call("programConfig", ECO_HOUSEHOLD) == [
        True,
        False,
        VALIDITY,
        MAX_AWARD[1],
        10**12,
    ]
    assert ledger.call("routeOf", BIKE, SEOUL) == [1, 1]
    assert ledger.call("routeOf", SEOUL, BIKE) == [0, 0]


def test_first_registration_on_a_fresh_deployment(w3):
    """InvalidValidity and a first registration, on a second, bare deployment."""
    from ledger_helpers import Ledger, _error_table

    from bridge.compile import main_artifact

    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        art = main_artifact()
        admin = w3.eth.accounts[0]
        h = (
            w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
            .constructor(admin, 0)
            .transact({"from": admin, "gas": 10_000_000})
        )
        c = w3.eth.contract(
            address=w3.eth.wait_for_transaction_receipt(h).contractAddress, abi=art.abi
        )
        bare = Ledger(w3, c, None, _error_table(art.abi))  # type: ignore[arg-type]
        bare.expect("InvalidValidity", 1, 0, call=("registerProgram", 1, 0, 1, 1), sender=admin)
        bare.expect("UnknownProgram", 1, call=("setRoute", 1, 7, 1, 1), sender=admin)
        rc = bare.tx("registerProgram", SEOUL, VALIDITY, 0, 0, sender=admin)
        assert not bare.events(rc, "RouteSet")  # no SEOUL -> SEOUL route
        rc = bare.tx("registerProgram", BIKE, VALIDITY, 16_000, 400_000_000, sender=admin)
        (ev,) = bare.events(rc, "RouteSet")
        assert (ev.args["from"], ev.args.to, ev.args.numerator, ev.args.denominator) == (
            BIKE,
            SEOUL,
            1,
            1,
        )
        assert bare.call("programConfig", BIKE) == [True, False, VALIDITY, 16_000, 400_000_000]
        assert bare.call("programConfig", CAR) == [False, False, 0, 0, 0]
    finally:
        w3.provider.make_request("evm_revert", [snap])


def test_limits_and_routes(ledger):
    r = ledger.roles
    ledger.tx("setProgramLimits", CAR, 1_000, 5_000, sender=r.admin)
    assert ledger.call("programConfig", CAR)[3:] == [1_000, 5_000]
    ledger.expect("UnknownProgram", 9, call=("setProgramLimits", 9, 1, 1), sender=r.admin)
    ledger.expect("UnknownProgram", 0, call=("setBudget", 0, 2026, 1), sender=r.admin)
    ledger.expect("InvalidRoute", 1, 1, 1, 1, call=("setRoute", 1, 1, 1, 1), sender=r.admin)
    ledger.expect("InvalidRoute", 1, 2, 1, 0, call=("setRoute", 1, 2, 1, 0), sender=r.admin)
    ledger.tx("setRoute", ECO_HOUSEHOLD, SEOUL, 3, 2, sender=r.admin)
    assert ledger.call("routeOf", ECO_HOUSEHOLD, SEOUL) == [3, 2]


def test_pause_everything_and_one_program(ledger):
    r = ledger.roles
    ledger.grant(ECO_HOUSEHOLD, [(A, 1, 10_000, award_id(1))])
    ledger.tx("setPaused", True, sender=r.pauser)
    assert ledger.call("paused")
    for fn, args, who in (
        ("grantBatch", (ECO_HOUSEHOLD, [(A, 2, 1, award_id(2))]), r.issuer),
        ("convert", (A, 1, 7, 1, award_id(9), []), r.converter),
        ("deduct", (A, 1, 1, TAX_PAYMENT, ZERO, []), r.spender),
        ("expire", (A, 1, []), r.expirer),
        ("expireBatch", (1, [A], [[]]), r.expirer),
        ("correct", (A, 1, 1, award_id(1), 0, 1, []), r.corrector),
        ("mergeAccounts", (A, acct("y"), NO_LISTS, NO_LISTS), r.registrar),
        ("setDonationConsent", (A, True), r.registrar),
    ):
        ledger.expect("LedgerPaused", call=(fn, *args), sender=who)
    ledger.tx("setPaused", False, sender=r.pauser)
    ledger.tx("setProgramPaused", ECO_HOUSEHOLD, True, sender=r.pauser)
    ledger.expect(
        "ProgramPaused",
        ECO_HOUSEHOLD,
        call=("grantBatch", ECO_HOUSEHOLD, [(A, 2, 1, award_id(2))]),
        sender=r.issuer,
    )
    ledger.expect(
        "ProgramPaused",
        ECO_HOUSEHOLD,
        call=("convert", A, 1, 7, 1, award_id(9), []),
        sender=r.converter,
    )
    ledger.expect(
        "ProgramPaused",
        ECO_HOUSEHOLD,
        call=("mergeAccounts", A, acct("y"), NO_LISTS, NO_LISTS),
        sender=r.registrar,
    )
    # Other programs keep working.
    ledger.grant(ECO_ORG, [(A, 3, 1, award_id(3))])
    ledger.tx("setProgramPaused", ECO_HOUSEHOLD, False, sender=r.pauser)
    ledger.grant(ECO_HOUSEHOLD, [(A, 2, 1, award_id(2))])


def test_donation_consent(ledger):
    r = ledger.roles
    ledger.tx("setDonationConsent", A, True, sender=r.registrar)
    assert ledger.call("accountState", A)[3] is True
    ledger.expect(
        "InvalidAccount", ZERO, call=("setDonationConsent", ZERO, True), sender=r.registrar
    )


def test_issuer_key_rotation(ledger):
    """RUNBOOK step: grant the new key, revoke the old one; the old key can no longer grant."""
    r = ledger.roles
    role = ledger.call("issuerRole", ECO_HOUSEHOLD)
    assert ledger.call("getRoleAdmin", role) == ZERO
    new_key = r.outsider
    ledger.tx("grantRole", role, new_key, sender=r.admin)
    ledger.tx("revokeRole", role, r.issuer, sender=r.admin)
    ledger.expect(
        "AccessControlUnauthorizedAccount",
        r.issuer,
        role,
        call=("grantBatch", ECO_HOUSEHOLD, [(A, 1, 1, award_id(1))]),
        sender=r.issuer,
    )
    ledger.grant(ECO_HOUSEHOLD, [(A, 1, 1, award_id(1))], sender=new_key)
    # A key can drop its own role; only the holder may renounce.
    ledger.expect(
        "AccessControlBadConfirmation", call=("renounceRole", role, new_key), sender=r.admin
    )
    ledger.tx("renounceRole", role, new_key, sender=new_key)
    assert not ledger.call("hasRole", role, new_key)


def test_admin_transfer_cancel_and_delay_change(ledger):
    r = ledger.roles
    assert ledger.call("owner") == r.admin
    assert ledger.call("defaultAdminDelay") == 3 * 86400
    ledger.tx("beginDefaultAdminTransfer", r.outsider, sender=r.admin)
    assert ledger.call("pendingDefaultAdmin")[0] == r.outsider
    ledger.tx("cancelDefaultAdminTransfer", sender=r.admin)
    assert ledger.call("pendingDefaultAdmin")[0] == "0x" + "00" * 20
    ledger.tx("changeDefaultAdminDelay", 7 * 86400, sender=r.admin)
    new_delay, _ = ledger.call("pendingDefaultAdminDelay")
    assert new_delay == 7 * 86400
    assert ledger.call("defaultAdminDelayIncreaseWait") > 0
    ledger.tx("rollbackDefaultAdminDelay", sender=r.admin)
    assert ledger.call("pendingDefaultAdminDelay") == [0, 0]
    for fn, args in (
        ("beginDefaultAdminTransfer", (r.outsider,)),
        ("cancelDefaultAdminTransfer", ()),
        ("changeDefaultAdminDelay", (1,)),
        ("rollbackDefaultAdminDelay", ()),
    ):
        ledger.expect(
            "AccessControlUnauthorizedAccount",
            r.outsider,
            ZERO,
            call=(fn, *args),
            sender=r.outsider,
        )


def test_supports_interface(ledger):
    assert ledger.call("supportsInterface", bytes.fromhex("01ffc9a7"))  # ERC-165
    assert ledger.call("supportsInterface", bytes.fromhex("7965db0b"))  # IAccessControl
    assert not ledger.call("supportsInterface", bytes.fromhex("ffffffff"))
