"""Award numbers are namespaced per program (issue 13, item 1): an issuer key of one program can
never mark, and so make the bridge skip, a number of another; a correction names a number
recorded in its own program (item 2, what the chain can check)."""

from __future__ import annotations

from ledger_helpers import BIKE, CAR, ECO_HOUSEHOLD, ECO_ORG, GRANT, acct, award_id

DAY = 86400


def _grant_logs(ledger, rcpt):
    return [
        (e.args.account, e.args.program, e.args.amount, e.args.ref)
        for e in ledger.events(rcpt, "EntryRecorded")
        if e.args.kind == GRANT
    ]


def test_another_programs_issuer_cannot_skip_this_programs_numbers(ledger):
    # The incident: the ECO_ORG issuer key marks 9320-9322 before the bridge uses them.
    squatter, car_member, bike_member = acct("squatter"), acct("car-9320"), acct("bike-9321")
    eco_org_issuer = ledger.roles.issuer_of(ECO_ORG)
    assert eco_org_issuer != ledger.roles.issuer_of(CAR)
    ledger.grant(ECO_ORG, [(squatter, n, 1, award_id(900_000 + n)) for n in (9320, 9321, 9322)])
    car = ledger.grant(CAR, [(car_member, 9320, 50_000, award_id(9320))])
    bike = ledger.grant(
        BIKE,
        [(bike_member, 9321, 1_000, award_id(9321)), (bike_member, 9322, 2_000, award_id(9322))],
    )
    assert ledger.events(car, "AwardSkipped") == [] and ledger.events(bike, "AwardSkipped") == []
    assert _grant_logs(ledger, car) == [(car_member, CAR, 50_000, award_id(9320))]
    assert ledger.call("balanceOf", car_member, CAR) == 50_000
    assert ledger.call("balanceOf", bike_member, BIKE) == 3_000
    # ...and the squatter cannot reach into CAR with its own key either (per-program role).
    ledger.expect(
        "AccessControlUnauthorizedAccount",
        call=("grantBatch", CAR, [(squatter, 9323, 1, award_id(9323))]),
        sender=eco_org_issuer,
    )
    assert not ledger.call("isAwardRecorded", CAR, 9323)


def test_same_number_in_two_programs_both_record(ledger):
    a = acct("ns-both")
    eco = ledger.grant(ECO_HOUSEHOLD, [(a, 5, 10_000, award_id(5))])
    car = ledger.grant(CAR, [(a, 5, 20_000, award_id(1_000_005))])
    assert _grant_logs(ledger, eco) == [(a, ECO_HOUSEHOLD, 10_000, award_id(5))]
    assert _grant_logs(ledger, car) == [(a, CAR, 20_000, award_id(1_000_005))]
    assert ledger.call("isAwardRecorded", ECO_HOUSEHOLD, 5)
    assert ledger.call("isAwardRecorded", CAR, 5)
    assert not ledger.call("isAwardRecorded", BIKE, 5)
    # Still idempotent within each program.
    assert ledger.call(
        "grantBatch",
        CAR,
        [(a, 5, 20_000, award_id(1_000_005))],
        sender=(ledger.roles.issuer_of(CAR)),
    ) == [5]


def test_correction_of_a_number_not_recorded_in_its_program_reverts(ledger):
    a = acct("ns-correct")
    t0 = ledger.now() + 100
    ledger.set_next_time(t0)
    # Number 7 is recorded in CAR only; the account holds ECO_HOUSEHOLD mileage under number 8.
    ledger.grant(CAR, [(a, 7, 30_000, award_id(7))])
    ledger.set_next_time(t0 + 1)
    ledger.grant(ECO_HOUSEHOLD, [(a, 8, 10_000, award_id(8))])
    ledger.expect(
        "AwardNotRecorded",
        ECO_HOUSEHOLD,
        7,
        call=(
            "correct",
            a,
            ECO_HOUSEHOLD,
            7,
            award_id(7),
            t0 + 1,
            1_000,
            ledger.live(a, ECO_HOUSEHOLD),
        ),
        sender=ledger.roles.corrector,
    )
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 10_000


def test_correction_beyond_the_awards_checkpoint_reverts(ledger):
    # Award 6733 (693 BIKE) corrected by 4,439: the chain bounds a correction by what is left of
    # the checkpoint credited at grantedAt, here the award alone (the number 6733 is also a CAR
    # award of the same account, which must neither shadow nor lend it room).
    a = acct("ns-6733")
    t0 = ledger.now() + 100
    ledger.set_next_time(t0)
    ledger.grant(BIKE, [(a, 6732, 5_000, award_id(6732))])
    ledger.set_next_time(t0 + DAY)
    ledger.grant(BIKE, [(a, 6733, 693, award_id(6733))])
    ledger.grant(CAR, [(a, 6733, 50_000, award_id(1_006_733))])
    assert ledger.call("balanceOf", a, BIKE) == 5_693
    assert ledger.call("balanceOf", a, CAR) == 50_000
    ledger.expect(
        "CorrectionExceedsRemaining",
        6733,
        693,
        4_439,
        call=("correct", a, BIKE, 6733, award_id(6733), t0 + DAY, 4_439, ledger.live(a, BIKE)),
        sender=ledger.roles.corrector,
    )
    ledger.tx(
        "correct",
        a,
        BIKE,
        6733,
        award_id(6733),
        t0 + DAY,
        693,
        ledger.live(a, BIKE),
        sender=ledger.roles.corrector,
    )
    assert ledger.call("balanceOf", a, BIKE) == 5_000
