// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

import {IMileageLedger} from "./interfaces/IMileageLedger.sol";
import {AwardBitmap} from "./libraries/AwardBitmap.sol";
import {Checkpoints} from "./libraries/Checkpoints.sol";
import {FiscalYear} from "./libraries/FiscalYear.sol";
import {HashChain} from "./libraries/HashChain.sol";
import {AccountWord} from "./types/AccountWord.sol";
import {AccountId, ProgramId} from "./types/Ids.sol";
import {Position, PositionCodec} from "./types/Position.sol";
import "./types/Codes.sol" as Codes;

/// @title MileageLedger: balances, grants, conversions, deductions, refunds, expiry, corrections, merges
/// @notice See {IMileageLedger}, the specification. This contract orchestrates; the arithmetic of
/// expiry lives in {Checkpoints}, the completeness proof in {HashChain}, idempotency in {AwardBitmap}.
/// @dev Time: expiry (5 years from each grant) and budgets (fiscal years) are defined by
/// `block.timestamp` on purpose (slither "timestamp", low, accepted): on the QBFT network the
/// validators are the city's own nodes, and a few seconds of drift cannot move a 5-year boundary
/// or a fiscal year in any material way.
/// Storage order matters: the API serves eth_getProof for the account and position slots, whose
/// formulas are in contracts/README.md and pinned by tests/contracts/test_storage_layout.py.
contract MileageLedger is IMileageLedger, AccessControlDefaultAdminRules {
    using AwardBitmap for mapping(uint256 => uint256);
    using Checkpoints for Position;

    /// @inheritdoc IMileageLedger
    bytes32 public constant CONVERTER_ROLE = keccak256("CONVERTER_ROLE");
    /// @inheritdoc IMileageLedger
    bytes32 public constant SPENDER_ROLE = keccak256("SPENDER_ROLE");
    /// @inheritdoc IMileageLedger
    bytes32 public constant EXPIRER_ROLE = keccak256("EXPIRER_ROLE");
    /// @inheritdoc IMileageLedger
    bytes32 public constant CORRECTOR_ROLE = keccak256("CORRECTOR_ROLE");
    /// @inheritdoc IMileageLedger
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @inheritdoc IMileageLedger
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    struct ProgramConfig {
        bool registered;
        bool paused;
        uint32 validity;
        uint96 maxAward;
        uint96 annualBudget;
    }

    struct Totals {
        uint128 granted;
        uint128 credited;
        uint256 debited;
    }

    struct Period {
        uint96 budget;
        uint96 used;
        bool explicit;
    }

    struct Route {
        uint64 numerator;
        uint64 denominator;
    }

    /// @dev What the deductions with one (account, program, ref) took and what their refunds gave
    /// back: one slot, written by {deduct} and {refund}.
    struct DeductionRecord {
        uint96 deducted;
        uint96 refunded;
    }

    /// @dev Working state of one grant batch, kept in memory to stay within the stack limit.
    struct Batch {
        uint8 program;
        uint256 space;
        uint16 year;
        uint256 maxAward;
        uint256 budget;
        uint256 used;
        uint256 total;
        uint256 skipped;
        uint256 bitmapWord;
        uint256 bits;
    }

    /// @dev No bitmap word is cached yet (a real word index is below 2**64: program << 56 | awardNo >> 8).
    uint256 private constant NO_WORD = type(uint256).max;

    /// @dev Per account: [0] the account word ({AccountWord}: head, count, flags), [program] the
    /// position word of each program ({Position}). One mapping slot computation serves both words
    /// a grant writes.
    mapping(bytes32 account => uint256[8] words) private _accounts;
    /// @dev Keyed by `program << 56 | awardNo >> 8` ({AwardBitmap-wordOf}): numbers are per program.
    mapping(uint256 word => uint256 bits) private _awardBitmap;
    mapping(bytes32 conversionId => bool recorded) private _conversions;
    mapping(bytes32 account => bytes32 successor) private _successors;
    mapping(uint8 program => ProgramConfig) private _programs;
    mapping(uint8 program => Totals) private _totals;
    mapping(uint8 program => mapping(uint16 year => Period)) private _periods;
    mapping(uint8 from => mapping(uint8 to => Route)) private _routes;
    bool private _paused;
    // Appended after every slot the API proves (contracts/README.md): the slots above do not move.
    /// @dev Keyed by {_deductionKey}(account, program, ref): a refund names all three, so it can
    /// only credit the account and program the deduction debited.
    mapping(bytes32 key => DeductionRecord) private _deductions;
    mapping(bytes32 refundId => bool recorded) private _refunds;

    /// @notice Deploys the ledger with `admin` (meant to be a multisig) as the default admin.
    /// @param admin the initial default admin
    /// @param adminTransferDelay seconds a default-admin transfer must wait (two-step transfer)
    constructor(address admin, uint48 adminTransferDelay) AccessControlDefaultAdminRules(adminTransferDelay, admin) {}

    // ---------------------------------------------------------------------------------------
    // Admin
    // ---------------------------------------------------------------------------------------

    /// @inheritdoc IMileageLedger
    function registerProgram(uint8 program, uint32 validity, uint96 maxAward, uint96 annualBudget)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        // The only place a program becomes registered: `registered` implies 1 <= program <=
        // PROGRAM_MAX, the bound `_credit`'s unchecked slot arithmetic relies on.
        if (program == 0 || program > Codes.PROGRAM_MAX) revert UnknownProgram(program);
        if (_programs[program].registered) revert ProgramAlreadyRegistered(program);
        if (validity == 0) revert InvalidValidity(program, validity);
        _programs[program] = ProgramConfig(true, false, validity, maxAward, annualBudget);
        emit ProgramRegistered(program, validity, maxAward, annualBudget);
        if (program != Codes.PROGRAM_SEOUL) {
            _routes[program][Codes.PROGRAM_SEOUL] = Route(1, 1);
            emit RouteSet(program, Codes.PROGRAM_SEOUL, 1, 1);
        }
    }

    /// @inheritdoc IMileageLedger
    function setProgramLimits(uint8 program, uint96 maxAward, uint96 annualBudget)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        ProgramConfig storage cfg = _registered(program);
        cfg.maxAward = maxAward;
        cfg.annualBudget = annualBudget;
        emit ProgramLimitsSet(program, maxAward, annualBudget);
    }

    /// @inheritdoc IMileageLedger
    function setBudget(uint8 program, uint16 fiscalYear, uint96 budget) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _registered(program);
        Period storage period = _periods[program][fiscalYear];
        period.budget = budget;
        period.explicit = true;
        emit BudgetSet(program, fiscalYear, budget);
    }

    /// @inheritdoc IMileageLedger
    function setRoute(uint8 from, uint8 to, uint64 numerator, uint64 denominator)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _registered(from);
        _registered(to);
        if (from == to || denominator == 0) revert InvalidRoute(from, to, numerator, denominator);
        _routes[from][to] = Route(numerator, denominator);
        emit RouteSet(from, to, numerator, denominator);
    }

    /// @inheritdoc IMileageLedger
    function setPaused(bool state) external onlyRole(PAUSER_ROLE) {
        _paused = state;
        emit PauseSet(state, _msgSender());
    }

    /// @inheritdoc IMileageLedger
    function setProgramPaused(uint8 program, bool state) external onlyRole(PAUSER_ROLE) {
        _registered(program).paused = state;
        emit ProgramPauseSet(program, state, _msgSender());
    }

    // ---------------------------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------------------------

    /// @inheritdoc IMileageLedger
    function grantBatch(uint8 program, Grant[] calldata grants) external returns (uint64[] memory skipped) {
        // The role is per program: an issuer key of one program can never grant another.
        _checkRole(issuerRole(program));
        ProgramConfig memory cfg = _active(program);
        Batch memory b;
        b.program = program;
        b.space = uint256(program) << 56;
        b.year = FiscalYear.yearOf(block.timestamp);
        Period storage period = _periods[program][b.year];
        b.budget = period.explicit ? period.budget : cfg.annualBudget;
        b.used = period.used;
        b.maxAward = cfg.maxAward;
        b.bitmapWord = NO_WORD;
        skipped = new uint64[](grants.length);
        for (uint256 i; i < grants.length; ++i) {
            Grant calldata g = grants[i];
            if (!_grantOne(b, g)) {
                skipped[b.skipped] = g.awardNo;
                ++b.skipped;
            }
        }
        // The bitmap word, budget and totals are written once per batch (or per 256 award
        // numbers), not once per award.
        if (b.bitmapWord != NO_WORD) _awardBitmap[b.bitmapWord] = b.bits;
        period.used = uint96(b.used);
        Totals storage totals = _totals[program];
        totals.granted += uint128(b.total);
        totals.credited += uint128(b.total);
        uint256 n = b.skipped;
        assembly ("memory-safe") {
            mstore(skipped, n)
        }
        emit GrantBatchRecorded(program, b.year, grants.length - n, n, b.total);
    }

    /// @inheritdoc IMileageLedger
    function convert(
        bytes32 account,
        uint8 from,
        uint8 to,
        uint96 amount,
        bytes32 conversionId,
        uint256[] calldata live
    )
        external
        onlyRole(CONVERTER_ROLE)
        returns (uint96 credited)
    {
        ProgramConfig memory cfg = _active(from);
        _active(to);
        _requireLive(account);
        if (amount == 0) revert ZeroAmount();
        if (_conversions[conversionId]) {
            emit ConversionSkipped(conversionId);
            return 0;
        }
        Route memory route = _routes[from][to];
        if (route.numerator == 0) revert RouteNotAllowed(from, to);
        uint256 out = uint256(amount) * route.numerator / route.denominator;
        if (out == 0) revert ConversionRoundsToZero(from, to, amount);
        if (out > type(uint96).max) revert AmountOverflow(out);
        credited = uint96(out);
        _conversions[conversionId] = true;
        _expire(account, from, cfg.validity, live);
        _debit(
            AccountId.wrap(account),
            ProgramId.wrap(from),
            amount,
            Codes.KIND_CONVERSION_OUT,
            Codes.REASON_CONVERSION,
            conversionId
        );
        _credit(account, to, credited, Codes.KIND_CONVERSION_IN, conversionId);
        _totals[to].credited += credited;
    }

    /// @inheritdoc IMileageLedger
    function deduct(bytes32 account, uint8 program, uint96 amount, uint8 reason, bytes32 ref, uint256[] calldata live)
        external
        onlyRole(SPENDER_ROLE)
    {
        ProgramConfig memory cfg = _active(program);
        _requireLive(account);
        if (amount == 0) revert ZeroAmount();
        if ((reason < Codes.REASON_TAX_PAYMENT || reason > Codes.REASON_DONATION) && reason != Codes.REASON_CARD_POINTS) {
            revert InvalidReason(reason);
        }
        // Expire first, so that lapsed mileage can never be spent.
        _expire(account, program, cfg.validity, live);
        _debit(AccountId.wrap(account), ProgramId.wrap(program), amount, Codes.KIND_DEDUCTION, reason, ref);
        // The bound of its refunds. Deductions sharing a ref add up (the bridge's refs are unique).
        DeductionRecord storage record = _deductions[_deductionKey(account, program, ref)];
        uint256 deducted = uint256(record.deducted) + amount;
        if (deducted > type(uint96).max) revert AmountOverflow(deducted);
        record.deducted = uint96(deducted);
    }

    /// @inheritdoc IMileageLedger
    function refund(bytes32 account, uint8 program, uint96 amount, bytes32 deductionRef, bytes32 refundId)
        external
        onlyRole(SPENDER_ROLE)
    {
        _active(program);
        _requireLive(account);
        if (amount == 0) revert ZeroAmount();
        if (_refunds[refundId]) {
            emit RefundSkipped(refundId);
            return;
        }
        DeductionRecord storage record = _deductions[_deductionKey(account, program, deductionRef)];
        DeductionRecord memory r = record;
        // Accepted (incorrect-equality): a recorded deduction took at least 1.
        // slither-disable-next-line incorrect-equality
        if (r.deducted == 0) revert DeductionNotFound(account, program, deductionRef);
        // Both fit 96 bits, so the sum cannot overflow 256.
        if (uint256(r.refunded) + amount > r.deducted) {
            revert RefundExceedsDeduction(deductionRef, r.deducted, r.refunded, amount);
        }
        record.refunded = r.refunded + amount;
        _refunds[refundId] = true;
        // A new credit at the current time: refunded mileage ages from the refund (docs/DESIGN.md).
        _credit(account, program, amount, Codes.KIND_REFUND, deductionRef);
        _totals[program].credited += amount;
        emit RefundRecorded(refundId, deductionRef, account, program, amount);
    }

    /// @inheritdoc IMileageLedger
    function expire(bytes32 account, uint8 program, uint256[] calldata live)
        external
        onlyRole(EXPIRER_ROLE)
        returns (uint96 expired)
    {
        ProgramConfig memory cfg = _active(program);
        return _expire(account, program, cfg.validity, live);
    }

    /// @inheritdoc IMileageLedger
    function expireBatch(uint8 program, bytes32[] calldata accounts, uint256[][] calldata lives)
        external
        onlyRole(EXPIRER_ROLE)
        returns (uint256 total)
    {
        ProgramConfig memory cfg = _active(program);
        if (lives.length != accounts.length) revert LengthMismatch(accounts.length, lives.length);
        for (uint256 i; i < accounts.length; ++i) {
            // A merged account has no position left, so it expires nothing and records nothing.
            total += _expire(accounts[i], program, cfg.validity, lives[i]);
        }
    }

    /// @inheritdoc IMileageLedger
    function correct(
        bytes32 account,
        uint8 program,
        uint64 awardNo,
        bytes32 awardId,
        uint32 grantedAt,
        uint96 amount,
        uint256[] calldata live
    ) external onlyRole(CORRECTOR_ROLE) {
        _active(program);
        _requireLive(account);
        if (amount == 0) revert ZeroAmount();
        // The only record of the award the chain keeps: its number in this program's namespace.
        if (!_awardBitmap.isRecorded(program, awardNo)) revert AwardNotRecorded(program, awardNo);
        uint256[8] storage w = _accounts[account];
        Position memory p = PositionCodec.unpack(w[program]);
        (uint256[] memory times, uint256[] memory cums) = _open(p, account, program, live);
        (uint256 index, uint256 remaining) = p.remainingAt(times, cums, grantedAt);
        if (amount > remaining) revert CorrectionExceedsRemaining(awardNo, uint96(remaining), amount);
        p.reverse(cums, index, amount);
        p.seal(account, program, times, cums);
        w[program] = p.pack();
        _totals[program].debited += amount;
        _append(
            w,
            AccountId.wrap(account),
            Codes.KIND_CORRECTION,
            ProgramId.wrap(program),
            amount,
            Codes.REASON_CORRECTION,
            awardId
        );
        emit AwardCorrected(awardNo, account, program, amount);
    }

    /// @inheritdoc IMileageLedger
    function mergeAccounts(bytes32 from, bytes32 into, uint256[][] calldata fromLive, uint256[][] calldata intoLive)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        if (_paused) revert LedgerPaused();
        if (from == into) revert SameAccount(from);
        if (from == bytes32(0)) revert InvalidAccount(from);
        if (into == bytes32(0)) revert InvalidAccount(into);
        _requireLive(from);
        _requireLive(into);
        if (fromLive.length != Codes.PROGRAM_MAX) revert LengthMismatch(Codes.PROGRAM_MAX, fromLive.length);
        if (intoLive.length != Codes.PROGRAM_MAX) revert LengthMismatch(Codes.PROGRAM_MAX, intoLive.length);
        for (uint8 program = 1; program <= Codes.PROGRAM_MAX; ++program) {
            _mergeProgram(from, into, program, fromLive[program - 1], intoLive[program - 1]);
        }
        _accounts[from][0] |= AccountWord.MERGED;
        _successors[from] = into;
        emit AccountsMerged(from, into);
    }

    /// @inheritdoc IMileageLedger
    function setDonationConsent(bytes32 account, bool consent) external onlyRole(REGISTRAR_ROLE) {
        // Under the ledger-wide pause too: consent decides the reason of later EXPIRY entries.
        if (_paused) revert LedgerPaused();
        if (account == bytes32(0)) revert InvalidAccount(account);
        _requireLive(account);
        uint256[8] storage w = _accounts[account];
        uint256 word = w[0];
        w[0] = consent ? word | AccountWord.CONSENT : word & ~AccountWord.CONSENT;
        emit DonationConsentSet(account, consent);
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    /// @inheritdoc IMileageLedger
    function issuerRole(uint8 program) public pure returns (bytes32) {
        return keccak256(abi.encodePacked("MILEAGE_ISSUER", program));
    }

    /// @inheritdoc IMileageLedger
    function balanceOf(bytes32 account, uint8 program) external view returns (uint256) {
        return PositionCodec.balanceOf(_positionWord(account, program));
    }

    /// @inheritdoc IMileageLedger
    function balancesOf(bytes32 account) external view returns (uint256[8] memory balances) {
        for (uint8 program = 1; program <= Codes.PROGRAM_MAX; ++program) {
            balances[program] = PositionCodec.balanceOf(_accounts[account][program]);
        }
    }

    /// @inheritdoc IMileageLedger
    function accountState(bytes32 account)
        external
        view
        returns (uint64 count, bytes24 head, bytes32 successor, bool donationConsent)
    {
        uint256 word = _accounts[account][0];
        // The count is 48 bits wide.
        return (uint64(AccountWord.count(word)), AccountWord.head(word), _successors[account], AccountWord.consents(word));
    }

    /// @inheritdoc IMileageLedger
    function isAwardRecorded(uint8 program, uint64 awardNo) external view returns (bool) {
        return _awardBitmap.isRecorded(program, awardNo);
    }

    /// @inheritdoc IMileageLedger
    function isConversionRecorded(bytes32 conversionId) external view returns (bool) {
        return _conversions[conversionId];
    }

    /// @inheritdoc IMileageLedger
    function isRefundRecorded(bytes32 refundId) external view returns (bool) {
        return _refunds[refundId];
    }

    /// @inheritdoc IMileageLedger
    function deductionOf(bytes32 account, uint8 program, bytes32 ref)
        external
        view
        returns (uint96 deducted, uint96 refunded)
    {
        DeductionRecord memory r = _deductions[_deductionKey(account, program, ref)];
        return (r.deducted, r.refunded);
    }

    /// @inheritdoc IMileageLedger
    function programConfig(uint8 program)
        external
        view
        returns (bool registered, bool isPaused, uint32 validity, uint96 maxAward, uint96 annualBudget)
    {
        ProgramConfig memory cfg = _programs[program];
        return (cfg.registered, cfg.paused, cfg.validity, cfg.maxAward, cfg.annualBudget);
    }

    /// @inheritdoc IMileageLedger
    function programTotals(uint8 program) external view returns (uint256 granted, uint256 credited, uint256 debited) {
        Totals memory t = _totals[program];
        return (t.granted, t.credited, t.debited);
    }

    /// @inheritdoc IMileageLedger
    function budgetOf(uint8 program, uint16 fiscalYear) external view returns (uint96 budget, uint96 used) {
        return _budgetOf(program, fiscalYear);
    }

    /// @inheritdoc IMileageLedger
    function currentBudget(uint8 program) external view returns (uint16 fiscalYear, uint96 budget, uint96 used) {
        fiscalYear = FiscalYear.yearOf(block.timestamp);
        (budget, used) = _budgetOf(program, fiscalYear);
    }

    /// @inheritdoc IMileageLedger
    function fiscalYearOf(uint256 timestamp) external pure returns (uint16) {
        return FiscalYear.yearOf(timestamp);
    }

    /// @inheritdoc IMileageLedger
    function routeOf(uint8 from, uint8 to) external view returns (uint64 numerator, uint64 denominator) {
        Route memory route = _routes[from][to];
        return (route.numerator, route.denominator);
    }

    /// @inheritdoc IMileageLedger
    function positionOf(bytes32 account, uint8 program)
        external
        view
        returns (uint256 balance, uint256 granted, uint256 debited, uint32 lastTime, uint32 oldest, uint16 live, uint96 root)
    {
        Position memory p = PositionCodec.unpack(_positionWord(account, program));
        return (p.balance(), p.granted, p.debited, uint32(p.lastTime), uint32(p.oldest), uint16(p.count), uint96(p.root));
    }

    /// @inheritdoc IMileageLedger
    function nextExpiry(bytes32 account, uint8 program) external view returns (uint256 at) {
        Position memory p = PositionCodec.unpack(_positionWord(account, program));
        if (p.debited >= p.granted) return 0;
        return p.oldest + _programs[program].validity;
    }

    /// @inheritdoc IMileageLedger
    function expirableAt(bytes32 account, uint8 program, uint256 timestamp, uint256[] calldata live)
        external
        view
        returns (uint96)
    {
        uint256 validity = _programs[program].validity;
        Position memory p = PositionCodec.unpack(_positionWord(account, program));
        (uint256[] memory times, uint256[] memory cums) = _open(p, account, program, live);
        if (validity == 0 || timestamp < validity) return 0;
        // At most `granted`, which fits 40 bits.
        return uint96(p.lapsed(times, cums, timestamp - validity));
    }

    /// @inheritdoc IMileageLedger
    function paused() external view returns (bool) {
        return _paused;
    }

    // ---------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------

    /// @dev One award of a batch. Returns false if its number was already recorded (skipped).
    function _grantOne(Batch memory b, Grant calldata g) private returns (bool recorded) {
        // Each calldata field is read (and range-checked) once.
        bytes32 account = g.account;
        uint64 awardNo = g.awardNo;
        uint96 amount = g.amount;
        if (awardNo == 0 || account == bytes32(0) || amount == 0) revert InvalidAward(awardNo, account, amount);
        // Skip before the limit checks: a resent award was checked when it was first recorded.
        // The bitmap word of consecutive award numbers is cached in `b` (Permit2-style nonces);
        // its index carries the program (`b.space`, see {AwardBitmap-wordOf}).
        uint256 index = b.space | uint256(awardNo) >> 8;
        if (index != b.bitmapWord) {
            if (b.bitmapWord != NO_WORD) _awardBitmap[b.bitmapWord] = b.bits;
            b.bitmapWord = index;
            b.bits = _awardBitmap[index];
        }
        uint256 bit = uint256(1) << (uint256(awardNo) & 0xff);
        uint256 bits = b.bits;
        if (bits & bit != 0) {
            emit AwardSkipped(awardNo, g.awardId, account);
            return false;
        }
        b.bits = bits | bit;
        if (amount > b.maxAward) revert AwardTooLarge(b.program, awardNo, uint96(b.maxAward), amount);
        uint256 used;
        // Sums of uint96 amounts over at most 2**64 award numbers: no overflow.
        unchecked {
            used = b.used + amount;
        }
        if (used > b.budget) {
            revert BudgetExceeded(b.program, b.year, awardNo, uint96(b.budget), uint96(b.used), amount);
        }
        b.used = used;
        unchecked {
            b.total += amount;
        }
        _credit(account, b.program, amount, Codes.KIND_GRANT, g.awardId);
        return true;
    }

    /// @dev Credits `amount` at the current time (a new or extended checkpoint) and records it.
    /// Bare `bytes32`/`uint8` parameters on purpose: typed ({AccountId}, {ProgramId}) the
    /// optimizer lays out the grant path differently, +6 gas an award (scripts/bench_gas.py).
    function _credit(bytes32 account, uint8 program, uint96 amount, uint8 kind, bytes32 ref) private {
        uint256[8] storage w = _accounts[account];
        uint256 word;
        // `w[program]` by hand: the compiler reloads the word before storing it (+100 gas a grant).
        // No bounds check here: every caller passed `program` through {_active}, and only programs
        // 1..PROGRAM_MAX can be registered ({registerProgram}), so `w.slot + program` is one of
        // the 7 position words and never the account word or another account's slot.
        assembly ("memory-safe") {
            word := sload(add(w.slot, program))
        }
        // One word whatever the position holds: an older checkpoint goes into the root.
        uint256 next = PositionCodec.credited(word, amount, block.timestamp, account, program);
        // Accepted (incorrect-equality): 0 is `credited`'s "cannot credit" sentinel; a credited
        // word is never 0 (amount > 0).
        // slither-disable-next-line incorrect-equality
        if (next == 0) {
            // A spent-out position restarts at `amount`; otherwise `granted` grows by it.
            // Accepted (incorrect-equality): a zero balance is exactly the restart case.
            // slither-disable-next-line incorrect-equality
            uint256 value = PositionCodec.balanceOf(word) == 0 ? amount : (word & PositionCodec.M40) + amount;
            if (value > PositionCodec.M40) revert AmountOverflow(value);
            revert TooManyCheckpoints(account, program);
        }
        assembly ("memory-safe") {
            sstore(add(w.slot, program), next)
        }
        _append(w, AccountId.wrap(account), kind, ProgramId.wrap(program), amount, Codes.REASON_NONE, ref);
    }

    /// @dev Debits `amount` (the caller expired lapsed mileage first where it matters) and records it.
    function _debit(AccountId account, ProgramId program, uint96 amount, uint8 kind, uint8 reason, bytes32 ref)
        private
    {
        uint256[8] storage w = _accounts[account.raw()];
        Position memory p = PositionCodec.unpack(w[program.code()]);
        uint256 balance = p.balance();
        if (amount > balance) revert InsufficientBalance(account.raw(), program.code(), balance, amount);
        p.debited += amount;
        w[program.code()] = p.pack();
        _totals[program.code()].debited += amount;
        _append(w, account, kind, program, amount, reason, ref);
    }

    /// @dev Expires what lapsed and was not spent. Nothing held, or nothing credited at or before
    /// the cutoff (by the conservative `oldest`): returns at once, no list needed. Otherwise the
    /// list of live checkpoints must be `live` (none when the newest checkpoint is the only one),
    /// and the consumed ones are dropped from it, so its length stays bounded by the credits
    /// still unspent, not by the account's history.
    function _expire(bytes32 account, uint8 program, uint256 validity, uint256[] calldata live)
        private
        returns (uint96)
    {
        if (block.timestamp < validity) return 0;
        uint256 cutoff = block.timestamp - validity;
        uint256[8] storage w = _accounts[account];
        Position memory p = PositionCodec.unpack(w[program]);
        if (p.debited >= p.granted || p.oldest > cutoff) return 0;
        (uint256[] memory times, uint256[] memory cums) = _open(p, account, program, live);
        uint256 amount = p.lapsed(times, cums, cutoff);
        p.debited += amount;
        p.seal(account, program, times, cums);
        w[program] = p.pack();
        // Accepted (incorrect-equality): nothing lapsed means no entry (the list was compacted).
        // slither-disable-next-line incorrect-equality
        if (amount == 0) return 0;
        _totals[program].debited += amount;
        uint8 reason = AccountWord.consents(w[0]) ? Codes.REASON_EXPIRY_DONATION : Codes.REASON_EXPIRY;
        // amount <= granted, which fits 40 bits.
        _append(
            w, AccountId.wrap(account), Codes.KIND_EXPIRY, ProgramId.wrap(program), uint96(amount), reason, bytes32(0)
        );
        return uint96(amount);
    }

    /// @dev Reads and checks `p`'s live checkpoints from `live` (see {Checkpoints-open}).
    function _open(Position memory p, bytes32 account, uint8 program, uint256[] calldata live)
        private
        pure
        returns (uint256[] memory times, uint256[] memory cums)
    {
        bool ok;
        (ok, times, cums) = p.open(account, program, live);
        if (!ok) {
            if (live.length == 0) revert LiveCheckpointsRequired(account, program, p.count);
            revert LiveCheckpointsMismatch(account, program, p.count, live.length);
        }
    }

    /// @dev Moves `from`'s balance in `program` into `into`, keeping every unspent checkpoint's
    /// grant time: both positions are reduced to their unspent (time, amount) segments, merged in
    /// time order and written back as `into`'s position. Expiry of moved mileage is therefore
    /// exactly what it would have been on `from` (lapsed-but-unexpired mileage stays lapsed).
    function _mergeProgram(
        bytes32 from,
        bytes32 into,
        uint8 program,
        uint256[] calldata fromLive,
        uint256[] calldata intoLive
    ) private {
        uint256[8] storage src = _accounts[from];
        if (src[program] == 0) return;
        Position memory ps = PositionCodec.unpack(src[program]);
        uint256 moved = ps.balance();
        delete src[program];
        // slither-disable-next-line incorrect-equality
        if (moved == 0) return;
        if (_programs[program].paused) revert ProgramPaused(program);
        (uint256[] memory ts, uint256[] memory as_) = _segments(ps, from, program, fromLive);
        uint256[8] storage dst = _accounts[into];
        (uint256[] memory td, uint256[] memory ad) = _segments(PositionCodec.unpack(dst[program]), into, program, intoLive);
        (ts, as_) = Checkpoints.mergeSorted(ts, as_, td, ad);
        (Position memory merged, bool ok) = Checkpoints.rebuild(into, program, ts, as_);
        if (!ok) {
            if (merged.granted > PositionCodec.M40) revert AmountOverflow(merged.granted);
            revert TooManyCheckpoints(into, program);
        }
        dst[program] = merged.pack();
        Totals storage totals = _totals[program];
        totals.credited += uint128(moved);
        totals.debited += moved;
        ProgramId id = ProgramId.wrap(program);
        _append(src, AccountId.wrap(from), Codes.KIND_MERGE_OUT, id, uint96(moved), Codes.REASON_MERGE, into);
        _append(dst, AccountId.wrap(into), Codes.KIND_MERGE_IN, id, uint96(moved), Codes.REASON_NONE, from);
    }

    /// @dev The unspent (time, amount) segments of a position, oldest first; its live list is
    /// read from `live` only if it holds anything.
    function _segments(Position memory p, bytes32 account, uint8 program, uint256[] calldata live)
        private
        pure
        returns (uint256[] memory times, uint256[] memory amounts)
    {
        if (p.debited >= p.granted) return (new uint256[](0), new uint256[](0));
        (uint256[] memory ts, uint256[] memory cs) = _open(p, account, program, live);
        return p.segments(ts, cs);
    }

    /// @dev Appends one entry to `account`'s hash chain and emits it (docs/DESIGN.md).
    function _append(
        uint256[8] storage w,
        AccountId account,
        uint8 kind,
        ProgramId program,
        uint96 amount,
        uint8 reason,
        bytes32 ref
    ) private {
        uint256 word = w[0];
        if (AccountWord.isMerged(word)) revert AccountMerged(account.raw(), _successors[account.raw()]);
        // 2**48 entries in one account cannot happen (one per block would take 9 million years).
        uint256 seq;
        unchecked {
            seq = AccountWord.count(word) + 1;
        }
        uint256 entry = HashChain.entryWord(seq, kind, program, reason, block.timestamp, amount);
        bytes24 head = HashChain.next(AccountWord.head(word), account, entry, ref);
        w[0] = AccountWord.appended(word, head, seq);
        emit EntryRecorded(account.raw(), entry, ref);
    }

    /// @dev The position word of a view's (`account`, `program`); 0 for a program out of range
    /// (index 0 is the account word).
    function _positionWord(bytes32 account, uint8 program) private view returns (uint256) {
        if (program == 0 || program > Codes.PROGRAM_MAX) return 0;
        return _accounts[account][program];
    }

    /// @dev The key of a deduction record: one per (account, program, ref).
    function _deductionKey(bytes32 account, uint8 program, bytes32 ref) private pure returns (bytes32 key) {
        return keccak256(abi.encode(account, program, ref));
    }

    function _budgetOf(uint8 program, uint16 fiscalYear) private view returns (uint96 budget, uint96 used) {
        Period memory period = _periods[program][fiscalYear];
        budget = period.explicit ? period.budget : _programs[program].annualBudget;
        used = period.used;
    }

    /// @dev The program's config if it may change balances now; reverts otherwise. A program
    /// that passes is in 1..PROGRAM_MAX (see {registerProgram}).
    function _active(uint8 program) private view returns (ProgramConfig memory cfg) {
        if (_paused) revert LedgerPaused();
        cfg = _programs[program];
        if (!cfg.registered) revert UnknownProgram(program);
        if (cfg.paused) revert ProgramPaused(program);
    }

    function _registered(uint8 program) private view returns (ProgramConfig storage cfg) {
        cfg = _programs[program];
        if (!cfg.registered) revert UnknownProgram(program);
    }

    function _requireLive(bytes32 account) private view {
        if (account == bytes32(0)) revert InvalidAccount(account);
        if (AccountWord.isMerged(_accounts[account][0])) revert AccountMerged(account, _successors[account]);
    }
}
