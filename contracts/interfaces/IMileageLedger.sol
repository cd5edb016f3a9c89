// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title IMileageLedger: the system of record of Seoul's environment mileage
/// @notice This interface is the specification. Balances are kept per pseudonymous account
/// (`bytes32`, see docs/DESIGN.md) and per program (`uint8`, contracts/types/Codes.sol).
/// Every change to a balance is one entry, appended to the account's hash chain and emitted as
/// {EntryRecorded}. Mileage is never transferable between citizens.
/// @dev Roles (OpenZeppelin v5 access control; unauthorised calls revert with OpenZeppelin's
/// `AccessControlUnauthorizedAccount(address account, bytes32 neededRole)`):
/// - `DEFAULT_ADMIN_ROLE` (a multisig, two-step transfer with a delay): programs, limits, budgets,
///   routes, and granting every other role.
/// - `issuerRole(program)`: grants of that one program only.
/// - `CONVERTER_ROLE`: conversions. `SPENDER_ROLE`: deductions and their refunds. `EXPIRER_ROLE`: expiry.
/// - `CORRECTOR_ROLE`: corrections of awards. `REGISTRAR_ROLE`: account merges, donation consent.
/// - `PAUSER_ROLE`: pause everything or one program.
interface IMileageLedger {
    /// @notice One award in a grant batch.
    /// @param account pseudonymous account id (HMAC of the citizen id)
    /// @param awardNo sequential award number assigned by the database (>= 1); the idempotency key
    /// @param amount mileage awarded (1 mileage = 1 KRW), > 0 and <= the program's largest award
    /// @param awardId deterministic award id (docs/DESIGN.md), recorded as the entry's `ref`
    struct Grant {
        bytes32 account;
        uint64 awardNo;
        uint96 amount;
        bytes32 awardId;
    }

    // ---------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------

    /// @notice `program` is 0, above 7, or not registered.
    /// @param program the program code given
    error UnknownProgram(uint8 program);
    /// @notice `program` was registered before; registration happens once.
    /// @param program the program code given
    error ProgramAlreadyRegistered(uint8 program);
    /// @notice A validity period of 0 seconds was given for `program`.
    /// @param program the program being registered
    /// @param validity the validity given (0)
    error InvalidValidity(uint8 program, uint32 validity);
    /// @notice A route rate is malformed: a zero denominator, or a route from a program to itself.
    /// @param from the debited program given
    /// @param to the credited program given
    /// @param numerator the numerator given
    /// @param denominator the denominator given
    error InvalidRoute(uint8 from, uint8 to, uint64 numerator, uint64 denominator);
    /// @notice No conversion route is open from `from` to `to`.
    /// @param from the debited program
    /// @param to the credited program
    error RouteNotAllowed(uint8 from, uint8 to);
    /// @notice The whole ledger is paused.
    error LedgerPaused();
    /// @notice `program` is paused.
    /// @param program the paused program
    error ProgramPaused(uint8 program);
    /// @notice An award in a batch has award number 0, a zero account or a zero amount.
    /// @param awardNo the award's number
    /// @param account the award's account
    /// @param amount the award's amount
    error InvalidAward(uint64 awardNo, bytes32 account, uint96 amount);
    /// @notice Award `awardNo` of `amount` exceeds the program's largest single award `maxAward`.
    /// @param program the batch's program
    /// @param awardNo the award's number
    /// @param maxAward the program's largest single award
    /// @param amount the award's amount
    error AwardTooLarge(uint8 program, uint64 awardNo, uint96 maxAward, uint96 amount);
    /// @notice Award `awardNo` of `amount` would take the program's issuance in `fiscalYear`
    /// past `budget`; `used` is what was issued in that year before this award.
    /// @param program the batch's program
    /// @param fiscalYear the fiscal year of the batch's block
    /// @param awardNo the award's number
    /// @param budget the budget of that year
    /// @param used the amount issued in that year before this award (the batch's earlier ones included)
    /// @param amount the award's amount
    error BudgetExceeded(uint8 program, uint16 fiscalYear, uint64 awardNo, uint96 budget, uint96 used, uint96 amount);
    /// @notice `account` was merged into `successor` and takes no further entries.
    /// @param account the merged account given
    /// @param successor the account it was merged into
    error AccountMerged(bytes32 account, bytes32 successor);
    /// @notice `account` holds `balance` of `program` (after expiring lapsed mileage), less than `amount`.
    /// @param account the account debited
    /// @param program the program debited
    /// @param balance its balance after expiry
    /// @param amount the amount to debit
    error InsufficientBalance(bytes32 account, uint8 program, uint256 balance, uint256 amount);
    /// @notice `reason` is not a reason a spender may use (TAX_PAYMENT .. DONATION, 2..9).
    /// @param reason the reason code given
    error InvalidReason(uint8 reason);
    /// @notice An amount of 0 was given where a positive amount is required.
    error ZeroAmount();
    /// @notice The zero account id was given.
    /// @param account the account id given (0)
    error InvalidAccount(bytes32 account);
    /// @notice Converting `amount` from `from` to `to` credits nothing at the route's rate.
    /// @param from the debited program
    /// @param to the credited program
    /// @param amount the amount to convert
    error ConversionRoundsToZero(uint8 from, uint8 to, uint96 amount);
    /// @notice A computed amount `value` does not fit: amounts are 96-bit, and an account's
    /// cumulative credits in one program 40-bit (1.09 x 10^12 KRW until it is spent to zero).
    /// @param value the amount that does not fit
    error AmountOverflow(uint256 value);
    /// @notice Award number `awardNo` was never recorded in `program` (numbers are per program),
    /// so it cannot be corrected: check the award's program and number.
    /// @param program the program given
    /// @param awardNo the award number given
    error AwardNotRecorded(uint8 program, uint64 awardNo);
    /// @notice Correcting award `awardNo` by `amount` exceeds the `remaining` unspent part of it.
    /// @param awardNo the award's number
    /// @param remaining the unspent part of the checkpoint credited at `grantedAt` (0: no
    /// credit at that time is live)
    /// @param amount the amount to reverse
    error CorrectionExceedsRemaining(uint64 awardNo, uint96 remaining, uint96 amount);
    /// @notice An account cannot be merged into itself.
    /// @param account the account given as both `from` and `into`
    error SameAccount(bytes32 account);
    /// @notice `account` has 65,535 live grant dates in `program`; expire or spend before granting more.
    /// @param account the account credited
    /// @param program the program credited
    error TooManyCheckpoints(bytes32 account, uint8 program);
    /// @notice `account` holds `count` live older checkpoints in `program` and this call needs
    /// them: pass the list (see `live` on {expire}; `mileage` builds it from the indexed entries).
    /// @param account the account
    /// @param program the program
    /// @param count the number of live checkpoints the chain holds
    error LiveCheckpointsRequired(bytes32 account, uint8 program, uint256 count);
    /// @notice The `given` list is not `account`'s live checkpoints in `program` (`count` of
    /// them): it is stale or wrong; rebuild it from the account's entries up to the current block.
    /// @param account the account
    /// @param program the program
    /// @param count the number of live checkpoints the chain holds
    /// @param given the length of the list given
    error LiveCheckpointsMismatch(bytes32 account, uint8 program, uint256 count, uint256 given);
    /// @notice Two arrays that go together have different lengths (`expected`, `given`).
    /// @param expected the length required
    /// @param given the length given
    error LengthMismatch(uint256 expected, uint256 given);
    /// @notice No deduction of `account` in `program` was recorded with ref `deductionRef`
    /// (unknown ref, or a deduction of another account or program): nothing to refund.
    /// @param account the account the refund names
    /// @param program the program the refund names
    /// @param deductionRef the ref of the deduction to refund
    error DeductionNotFound(bytes32 account, uint8 program, bytes32 deductionRef);
    /// @notice The refund would bring the refunds of `deductionRef` above what it deducted.
    /// @param deductionRef the deduction's ref
    /// @param deducted what the deduction took
    /// @param refunded what its earlier refunds gave back already
    /// @param amount the refund asked for
    error RefundExceedsDeduction(bytes32 deductionRef, uint96 deducted, uint96 refunded, uint96 amount);

    // ---------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------

    /// @notice One ledger entry was appended to `account`'s hash chain (docs/DESIGN.md).
    /// @dev `entry` packs the fixed-width fields in one word, low bits first:
    /// seq [0,48) | kind [48,56) | program [56,64) | reason [64,72) | timestamp [72,112) |
    /// amount [112,208). seq is the entry's number in the account (1, 2, ..., the new count);
    /// kind is GRANT=1 .. REFUND=9 (GRANT, CONVERSION_IN, MERGE_IN and REFUND credit); program is the
    /// program whose balance changed; reason the deduction reason (NONE=0 for credits); timestamp
    /// `block.timestamp`; amount the unsigned amount credited or debited. The new head is
    /// bytes24(keccak256(abi.encodePacked(previousHead, account, entry, ref))), so the event
    /// carries everything needed to recompute it (one word instead of seven keeps a grant cheap).
    /// @param account the account whose balance changed
    /// @param entry the packed entry word (layout above)
    /// @param ref award id (GRANT, CORRECTION), conversion id (CONVERSION_*), caller's reference
    /// (DEDUCTION: the bridge's keyed operation id), 0 (EXPIRY), the other account (MERGE_*), the
    /// refunded deduction's ref (REFUND)
    event EntryRecorded(bytes32 indexed account, uint256 entry, bytes32 ref);

    /// @notice An award in a batch was skipped because its award number was already recorded in
    /// the batch's program (the transaction's {GrantBatchRecorded} names the program). The award
    /// id given with it is NOT granted: whoever recorded the number first (possibly another
    /// award id, or none that the database knows) holds it; `mileage reconcile` and
    /// `mileage audit verify` flag a database award without its GRANT entry.
    /// @param awardNo the award number that was already recorded
    /// @param awardId the award id given with it in this batch
    /// @param account the account given with it in this batch
    event AwardSkipped(uint64 indexed awardNo, bytes32 indexed awardId, bytes32 indexed account);

    /// @notice A grant batch was processed.
    /// @param program the program granted
    /// @param fiscalYear the fiscal year whose budget the batch used
    /// @param granted number of awards recorded
    /// @param skipped number of awards skipped as already recorded
    /// @param amount total mileage granted by the batch
    event GrantBatchRecorded(uint8 indexed program, uint16 indexed fiscalYear, uint256 granted, uint256 skipped, uint256 amount);

    /// @notice A conversion was skipped because its id was already recorded.
    /// @param conversionId the conversion id already recorded
    event ConversionSkipped(bytes32 indexed conversionId);

    /// @notice A refund was recorded (its REFUND entry, with ref = `deductionRef`, is emitted
    /// with it).
    /// @param refundId the refund's idempotency key
    /// @param deductionRef the refunded deduction's ref
    /// @param account the account credited (the deduction's)
    /// @param program the program credited (the deduction's)
    /// @param amount the amount given back
    event RefundRecorded(
        bytes32 indexed refundId, bytes32 indexed deductionRef, bytes32 indexed account, uint8 program, uint96 amount
    );

    /// @notice A refund was skipped because its id was already recorded (a resent transaction).
    /// @param refundId the refund id already recorded
    event RefundSkipped(bytes32 indexed refundId);

    /// @notice An award was (partly) reversed by a correction.
    /// @param awardNo the corrected award's number
    /// @param account the account debited (the award's account, or its merge successor)
    /// @param program the award's program
    /// @param amount the amount reversed
    event AwardCorrected(uint64 indexed awardNo, bytes32 indexed account, uint8 program, uint96 amount);

    /// @notice Every balance of `from` was moved into `into`; `from` takes no further entries.
    /// @param from the merged (retired) account
    /// @param into its successor
    event AccountsMerged(bytes32 indexed from, bytes32 indexed into);

    /// @notice An account's consent to donate expiring mileage changed.
    /// @param account the account
    /// @param consent true: expiring mileage is recorded as EXPIRY_DONATION
    event DonationConsentSet(bytes32 indexed account, bool consent);

    /// @notice A program was registered.
    /// @param program the program code
    /// @param validity seconds a grant stays valid (5 years by the plan)
    /// @param maxAward the largest single award
    /// @param annualBudget the issuance budget of a fiscal year without an explicit budget
    event ProgramRegistered(uint8 indexed program, uint32 validity, uint96 maxAward, uint96 annualBudget);

    /// @notice A program's limits changed.
    /// @param program the program code
    /// @param maxAward the largest single award
    /// @param annualBudget the default issuance budget per fiscal year
    event ProgramLimitsSet(uint8 indexed program, uint96 maxAward, uint96 annualBudget);

    /// @notice The issuance budget of one program and fiscal year was set explicitly.
    /// @param program the program code
    /// @param fiscalYear the fiscal (calendar, KST) year
    /// @param budget the budget of that year
    event BudgetSet(uint8 indexed program, uint16 indexed fiscalYear, uint96 budget);

    /// @notice A conversion route was opened, changed or (numerator 0) closed.
    /// @param from the debited program
    /// @param to the credited program
    /// @param numerator credited = amount * numerator / denominator, rounded down
    /// @param denominator see numerator
    event RouteSet(uint8 indexed from, uint8 indexed to, uint64 numerator, uint64 denominator);

    /// @notice The whole ledger was paused or unpaused.
    /// @param paused the new state
    /// @param by the caller
    event PauseSet(bool paused, address indexed by);

    /// @notice One program was paused or unpaused.
    /// @param program the program code
    /// @param paused the new state
    /// @param by the caller
    event ProgramPauseSet(uint8 indexed program, bool paused, address indexed by);

    // ---------------------------------------------------------------------------------------
    // Admin (DEFAULT_ADMIN_ROLE)
    // ---------------------------------------------------------------------------------------

    /// @notice Registers `program` once, with its validity, largest award and default annual budget,
    /// and opens the route program -> SEOUL at 1:1 (unless `program` is SEOUL).
    /// @dev The validity is fixed at registration: the checkpoints keep grant times, so changing it
    /// later would re-date mileage already granted.
    /// @param program the program code (1..7)
    /// @param validity seconds a grant stays valid; 5 years = 157,766,400 (1,826 days)
    /// @param maxAward the largest single award (0: the program cannot be granted, e.g. SEOUL)
    /// @param annualBudget the issuance budget of each fiscal year that has no explicit budget
    function registerProgram(uint8 program, uint32 validity, uint96 maxAward, uint96 annualBudget) external;

    /// @notice Changes a registered program's largest single award and default annual budget.
    /// @param program the program code
    /// @param maxAward the largest single award
    /// @param annualBudget the default issuance budget per fiscal year
    function setProgramLimits(uint8 program, uint96 maxAward, uint96 annualBudget) external;

    /// @notice Sets the issuance budget of one fiscal year explicitly (overrides the default).
    /// @param program the program code
    /// @param fiscalYear the fiscal year (calendar year in KST, e.g. 2026)
    /// @param budget the budget of that year
    function setBudget(uint8 program, uint16 fiscalYear, uint96 budget) external;

    /// @notice Opens, changes or (numerator 0) closes the conversion route `from` -> `to`.
    /// @param from the debited program
    /// @param to the credited program
    /// @param numerator credited = amount * numerator / denominator, rounded down
    /// @param denominator see numerator; must not be 0 (and `from` must differ from `to`: {InvalidRoute})
    function setRoute(uint8 from, uint8 to, uint64 numerator, uint64 denominator) external;

    // ---------------------------------------------------------------------------------------
    // Pausing (PAUSER_ROLE)
    // ---------------------------------------------------------------------------------------

    /// @notice Pauses or unpauses every balance-changing function (grants, conversions,
    /// deductions, refunds, expiry, corrections, merges) and {setDonationConsent}; they revert
    /// with {LedgerPaused}. Admin configuration, roles and views stay available. Setting the state it
    /// already has succeeds and emits {PauseSet} again.
    /// @dev Home-grown rather than OpenZeppelin's `Pausable` (contracts/README.md "Pause"): its
    /// storage flag would move the account mapping from slot 3 to slot 4 (the eth_getProof
    /// formulas), and the per-program pause has to live in the program's configuration anyway.
    /// @param state true to pause, false to unpause
    function setPaused(bool state) external;

    /// @notice Pauses or unpauses every balance-changing function touching `program` (they revert
    /// with {ProgramPaused}; a merge only if it moves a balance of `program`).
    /// @param program the program code (registered)
    /// @param state true to pause, false to unpause
    function setProgramPaused(uint8 program, bool state) external;

    // ---------------------------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------------------------

    /// @notice Grants a batch of awards of `program` (caller needs `issuerRole(program)`).
    /// Awards whose number is already recorded in `program` (in an earlier batch or earlier in this
    /// one; numbers are per program) are skipped with {AwardSkipped}; every other award is
    /// recorded with a GRANT entry (ref = its award id).
    /// @dev Reverts as a whole with {AwardTooLarge}, {BudgetExceeded}, {InvalidAward},
    /// {AccountMerged} or {TooManyCheckpoints}; each carries the award number or the account so
    /// the bridge can isolate it ({AmountOverflow}: an account's credits past 40 bits, carries
    /// neither).
    /// @param program the program granted
    /// @param grants the awards
    /// @return skipped the award numbers skipped as already recorded, in batch order
    function grantBatch(uint8 program, Grant[] calldata grants) external returns (uint64[] memory skipped);

    /// @notice Converts `amount` of `from` into `to` at the route's rate, rounding down, atomically
    /// (CONVERSION_OUT and CONVERSION_IN entries, both with ref = `conversionId`). A conversion id
    /// already recorded is skipped with {ConversionSkipped} and returns 0. Lapsed mileage of `from`
    /// is expired first (see `live`).
    /// @param account the account
    /// @param from the debited program
    /// @param to the credited program
    /// @param amount the amount debited from `from`
    /// @param conversionId the idempotency key
    /// @param live `account`'s live checkpoints in `from` as for {expire}; needed only once
    /// something older than its newest credit may have lapsed (`nextExpiry` has passed), else empty
    /// @return credited the amount credited to `to` (0 if skipped)
    function convert(
        bytes32 account,
        uint8 from,
        uint8 to,
        uint96 amount,
        bytes32 conversionId,
        uint256[] calldata live
    ) external returns (uint96 credited);

    /// @notice Deducts `amount` of `program` for a use (DEDUCTION entry). Lapsed mileage is
    /// expired first, so only valid mileage can be spent (oldest first). The amount is added to
    /// the deduction record of (`account`, `program`, `ref`), which bounds its refunds
    /// ({refund}, {deductionOf}).
    /// @param account the account
    /// @param program the program debited
    /// @param amount the amount
    /// @param reason TAX_PAYMENT(2) .. DONATION(9), or CARD_POINTS(14)
    /// @param ref the deduction's 32-byte reference (the bridge sends its keyed operation id)
    /// @param live `account`'s live checkpoints in `program` as for {expire}; needed only once
    /// something older than its newest credit may have lapsed (`nextExpiry` has passed), else empty
    function deduct(bytes32 account, uint8 program, uint96 amount, uint8 reason, bytes32 ref, uint256[] calldata live)
        external;

    /// @notice Gives back `amount` of a deduction (a cancelled purchase): a REFUND entry with
    /// ref = `deductionRef`, credited to the deduction's account and program as a new credit at
    /// the current time (it ages from now, with the program's validity, like a conversion). The
    /// refunds of one deduction never total more than it deducted. A refund id already recorded
    /// is skipped with {RefundSkipped} (a resent transaction changes nothing).
    /// @param account the deduction's account
    /// @param program the deduction's program
    /// @param amount the amount given back (> 0)
    /// @param deductionRef the deduction's ref
    /// @param refundId the refund's idempotency key
    function refund(bytes32 account, uint8 program, uint96 amount, bytes32 deductionRef, bytes32 refundId) external;

    /// @notice Expires the mileage of `program` that lapsed and was not spent (EXPIRY entry with
    /// reason EXPIRY, or EXPIRY_DONATION for accounts consenting to donation). Nothing lapsed:
    /// no entry. Before `nextExpiry` it reads nothing and needs no list. Its cost grows with the
    /// live checkpoints only (credits at distinct times that may still be unspent), never with
    /// the number of grants the account ever received: consumed checkpoints are dropped here.
    /// @param account the account
    /// @param program the program
    /// @param live the position's live older checkpoints, oldest first, each
    /// `time | cumulativeCredits << 32` (`positionOf` gives their count; empty when it is 0).
    /// They are the checkpoints a replay of the account's entries keeps (a credit at a new time
    /// turns the previous newest (time, granted) into one; a credit to a spent-out position starts
    /// afresh; a correction lowers the cumulatives from its checkpoint on; a merge rebuilds from
    /// the unspent segments), of which the chain keeps the last `count`
    /// @return expired the amount expired
    function expire(bytes32 account, uint8 program, uint256[] calldata live) external returns (uint96 expired);

    /// @notice {expire} over many accounts (the quarterly job); merged accounts are skipped.
    /// @param program the program
    /// @param accounts the accounts
    /// @param lives each account's live checkpoints, as for {expire} (same length as `accounts`)
    /// @return total the amount expired over all accounts
    function expireBatch(uint8 program, bytes32[] calldata accounts, uint256[][] calldata lives)
        external
        returns (uint256 total);

    /// @notice Reverses `amount` of award `awardNo` (CORRECTION entry, ref = `awardId`), never
    /// more than what remains unspent of the mileage granted to `account` in `program` at `grantedAt`.
    /// @dev What the chain checks: `awardNo` is recorded in `program`'s namespace
    /// ({AwardNotRecorded}), and `amount` is at most the unspent part of the checkpoint credited at
    /// `grantedAt` ({CorrectionExceedsRemaining}; awards to one account in one block share it).
    /// What it cannot check (no per-award data is stored at grant time, to keep grants cheap):
    /// that `awardId` is the id granted under `awardNo`, that the award went to `account`, and
    /// that the corrections of one award stay within its amount. The verifier
    /// (`mileage audit verify`, bridge/audit_rules.py) flags each such correction from the events.
    /// @param account the award's account, or its merge successor
    /// @param program the award's program
    /// @param awardNo the award's number (must be recorded)
    /// @param awardId the award's id (the GRANT entry's ref)
    /// @param grantedAt the GRANT entry's timestamp
    /// @param amount the amount to reverse
    /// @param live `account`'s live checkpoints in `program`, as for {expire}
    function correct(
        bytes32 account,
        uint8 program,
        uint64 awardNo,
        bytes32 awardId,
        uint32 grantedAt,
        uint96 amount,
        uint256[] calldata live
    ) external;

    /// @notice Moves every balance of `from` into `into` (MERGE_OUT on `from`, MERGE_IN on `into`,
    /// per program), keeping each moved mileage's grant date; `from` then takes no further entries.
    /// @param from the account to retire
    /// @param into its successor
    /// @param fromLive `from`'s live checkpoints per program (index program - 1, 7 lists), as for {expire}
    /// @param intoLive `into`'s live checkpoints per program, likewise
    function mergeAccounts(bytes32 from, bytes32 into, uint256[][] calldata fromLive, uint256[][] calldata intoLive)
        external;

    /// @notice Records whether `account` consents to donating its expiring mileage (not while the
    /// ledger is paused: {LedgerPaused}; not for a merged account: {AccountMerged}).
    /// @param account the account
    /// @param consent the consent
    function setDonationConsent(bytes32 account, bool consent) external;

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    /// @notice The role that may grant `program`: keccak256(abi.encodePacked("MILEAGE_ISSUER", program))
    /// (the 14 bytes of the string, then the one byte of the `uint8`).
    /// @param program the program code
    /// @return role the role id
    function issuerRole(uint8 program) external pure returns (bytes32 role);

    /// @notice The role allowed to convert.
    /// @return role keccak256("CONVERTER_ROLE")
    function CONVERTER_ROLE() external view returns (bytes32 role);

    /// @notice The role allowed to deduct.
    /// @return role keccak256("SPENDER_ROLE")
    function SPENDER_ROLE() external view returns (bytes32 role);

    /// @notice The role allowed to expire.
    /// @return role keccak256("EXPIRER_ROLE")
    function EXPIRER_ROLE() external view returns (bytes32 role);

    /// @notice The role allowed to correct awards.
    /// @return role keccak256("CORRECTOR_ROLE")
    function CORRECTOR_ROLE() external view returns (bytes32 role);

    /// @notice The role allowed to merge accounts and record donation consent.
    /// @return role keccak256("REGISTRAR_ROLE")
    function REGISTRAR_ROLE() external view returns (bytes32 role);

    /// @notice The role allowed to pause.
    /// @return role keccak256("PAUSER_ROLE")
    function PAUSER_ROLE() external view returns (bytes32 role);

    /// @notice The balance of `account` in `program`, including mileage that lapsed but was not
    /// yet expired (see {expirableAt}).
    /// @param account the account
    /// @param program the program
    /// @return balance the balance
    function balanceOf(bytes32 account, uint8 program) external view returns (uint256 balance);

    /// @notice Every balance of `account`, indexed by program code (index 0 is always 0).
    /// @param account the account
    /// @return balances the balances
    function balancesOf(bytes32 account) external view returns (uint256[8] memory balances);

    /// @notice The completeness proof and flags of `account`.
    /// @param account the account
    /// @return count number of entries
    /// @return head hash-chain head over them (bytes24: stored with the count in one word)
    /// @return successor the account it was merged into (0 if not merged)
    /// @return donationConsent whether expiring mileage is donated
    function accountState(bytes32 account)
        external
        view
        returns (uint64 count, bytes24 head, bytes32 successor, bool donationConsent);

    /// @notice Whether award number `awardNo` was recorded in `program`. Numbers are namespaced per
    /// program: the same number may be recorded in two programs, and an issuer of one program can
    /// never mark (and so make the bridge skip) a number of another.
    /// @param program the program the number belongs to
    /// @param awardNo the award number
    /// @return recorded true if recorded
    function isAwardRecorded(uint8 program, uint64 awardNo) external view returns (bool recorded);

    /// @notice Whether conversion `conversionId` was recorded.
    /// @param conversionId the conversion id
    /// @return recorded true if recorded
    function isConversionRecorded(bytes32 conversionId) external view returns (bool recorded);

    /// @notice Whether refund `refundId` was recorded.
    /// @param refundId the refund id
    /// @return recorded true if recorded
    function isRefundRecorded(bytes32 refundId) external view returns (bool recorded);

    /// @notice What the deductions of `account` in `program` with ref `ref` took, and what their
    /// refunds gave back (both 0: no such deduction).
    /// @param account the account
    /// @param program the program
    /// @param ref the deduction's ref
    /// @return deducted the amount deducted
    /// @return refunded the amount refunded so far (never above `deducted`)
    function deductionOf(bytes32 account, uint8 program, bytes32 ref)
        external
        view
        returns (uint96 deducted, uint96 refunded);

    /// @notice A program's configuration.
    /// @param program the program code
    /// @return registered whether registered
    /// @return isPaused whether the program is paused
    /// @return validity seconds a grant stays valid
    /// @return maxAward the largest single award
    /// @return annualBudget the default budget per fiscal year
    function programConfig(uint8 program)
        external
        view
        returns (bool registered, bool isPaused, uint32 validity, uint96 maxAward, uint96 annualBudget);

    /// @notice A program's running totals since deployment.
    /// @param program the program code
    /// @return granted total granted
    /// @return credited total credited (grants, conversions in, merges in)
    /// @return debited total debited (every other entry); sum of balances = credited - debited
    function programTotals(uint8 program) external view returns (uint256 granted, uint256 credited, uint256 debited);

    /// @notice A program's budget and issuance in one fiscal year.
    /// @param program the program code
    /// @param fiscalYear the fiscal year
    /// @return budget the budget (explicit, or the program's default)
    /// @return used the amount granted in that year
    function budgetOf(uint8 program, uint16 fiscalYear) external view returns (uint96 budget, uint96 used);

    /// @notice A program's budget and issuance in the current fiscal year.
    /// @param program the program code
    /// @return fiscalYear the current fiscal year (of `block.timestamp`)
    /// @return budget its budget (explicit, or the program's default)
    /// @return used the amount granted in it so far
    function currentBudget(uint8 program) external view returns (uint16 fiscalYear, uint96 budget, uint96 used);

    /// @notice The fiscal year (calendar year in Korea Standard Time, UTC+9) of `timestamp`.
    /// @param timestamp a unix time
    /// @return year the fiscal year
    function fiscalYearOf(uint256 timestamp) external pure returns (uint16 year);

    /// @notice The conversion rate of route `from` -> `to` (numerator 0: closed).
    /// @param from the debited program
    /// @param to the credited program
    /// @return numerator the rate's numerator
    /// @return denominator the rate's denominator
    function routeOf(uint8 from, uint8 to) external view returns (uint64 numerator, uint64 denominator);

    /// @notice The position of `account` in `program`, unpacked from its storage word.
    /// @param account the account
    /// @param program the program
    /// @return balance granted - debited
    /// @return granted cumulative credits (they restart when a spent-out position is credited)
    /// @return debited cumulative debits
    /// @return lastTime the newest credit's time
    /// @return oldest a time at or before the oldest credit that may be unspent
    /// @return live the number of live older checkpoints (the length of the `live` lists)
    /// @return root the hash chain over them
    function positionOf(bytes32 account, uint8 program)
        external
        view
        returns (
            uint256 balance,
            uint256 granted,
            uint256 debited,
            uint32 lastTime,
            uint32 oldest,
            uint16 live,
            uint96 root
        );

    /// @notice The earliest time at which mileage of `account` in `program` may lapse (`oldest` +
    /// the program's validity; never later than the truth, possibly earlier when the oldest
    /// credits were spent); 0 if it holds nothing. Until then spends need no `live` list and
    /// {expire} has nothing to do.
    /// @param account the account
    /// @param program the program
    /// @return at a unix time
    function nextExpiry(bytes32 account, uint8 program) external view returns (uint256 at);

    /// @notice Mileage of `account` in `program` that will have lapsed unspent by `timestamp` if
    /// nothing more is spent (what {expire} would deduct then; "about to expire" notices).
    /// @param account the account
    /// @param program the program
    /// @param timestamp a unix time (now or later)
    /// @param live its live checkpoints, as for {expire}
    /// @return amount the amount
    function expirableAt(bytes32 account, uint8 program, uint256 timestamp, uint256[] calldata live)
        external
        view
        returns (uint96 amount);

    /// @notice Whether the whole ledger is paused.
    /// @return isPaused true while paused
    function paused() external view returns (bool isPaused);
}
