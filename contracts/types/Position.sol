// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @notice The state of one account in one program, unpacked from its single storage word.
/// @dev Packed layout of the word (low bits first), see contracts/README.md "Storage layout":
///   [0, 40)    granted   cumulative credits on the expiry time line (net of corrections)
///   [40, 80)   debited   cumulative debits (every spend, conversion, expiry, correction...)
///   [80, 112)  lastTime  time of the newest credit (its checkpoint is (lastTime, granted))
///   [112, 144) oldest    a time at or before the oldest credit that may still be unspent
///   [144, 160) count     number of live older checkpoints (kept off-chain, see {Checkpoints})
///   [160, 256) root      96-bit hash chain over those live checkpoints, oldest first
/// balance = granted - debited. Under first-in-first-out spending, the mileage lapsed and not
/// spent at time `now` is max(0, G(now - validity) - debited), G(t) = cumulative credits up to t.
/// When everything credited is consumed, the next credit starts the word afresh (debited 0).
struct Position {
    uint256 granted;
    uint256 debited;
    uint256 lastTime;
    uint256 oldest;
    uint256 count;
    uint256 root;
}

using PositionCodec for Position global;

/// @title PositionCodec: packs a {Position} into one storage word and back
library PositionCodec {
    // The fields of the packed word (layout above), as masks and offsets. Written as literals
    // because inline assembly ({credited}) takes only literal constants; `test_position_codec.py`
    // checks each against its formula and fuzzes {credited} against {pack} and {link}.
    /// @notice (1 << 40) - 1: the `granted` and `debited` fields.
    uint256 internal constant M40 = 0xffffffffff;
    /// @notice (1 << 32) - 1: the `lastTime` and `oldest` fields, and a checkpoint's time.
    uint256 internal constant M32 = 0xffffffff;
    /// @notice (1 << 16) - 1: the `count` field.
    uint256 internal constant M16 = 0xffff;
    /// @notice The most live older checkpoints a position can hold.
    uint256 internal constant MAX_LIVE = M16;
    uint256 internal constant DEBITED_SHIFT = 40;
    uint256 internal constant LAST_TIME_SHIFT = 80;
    uint256 internal constant OLDEST_SHIFT = 112;
    uint256 internal constant COUNT_SHIFT = 144;
    uint256 internal constant ROOT_SHIFT = 160;
    /// @notice ~((1 << 160) - 1): the `root` field in place (its top 96 bits).
    uint256 internal constant ROOT_FIELD = 0xffffffffffffffffffffffff0000000000000000000000000000000000000000;
    /// @notice M40 << 40 | M32 << 112: the fields a credit at a new date keeps in place, `debited`
    /// and `oldest`.
    uint256 internal constant DEBITED_AND_OLDEST = 0xffffffff00000000ffffffffff0000000000;
    /// @notice A live checkpoint is `time | cumulative << CUMULATIVE_SHIFT` (72 bits).
    uint256 internal constant CUMULATIVE_SHIFT = 32;
    /// @notice Where {link} puts the program, above the 72-bit checkpoint.
    uint256 internal constant LINK_PROGRAM_SHIFT = 72;

    /// @notice Unpacks a stored word.
    function unpack(uint256 word) internal pure returns (Position memory p) {
        p.granted = word & M40;
        p.debited = (word >> DEBITED_SHIFT) & M40;
        p.lastTime = (word >> LAST_TIME_SHIFT) & M32;
        p.oldest = (word >> OLDEST_SHIFT) & M32;
        p.count = (word >> COUNT_SHIFT) & M16;
        p.root = word >> ROOT_SHIFT;
    }

    /// @notice Packs a position; the callers keep every field in range (amounts are checked
    /// against 40 bits before they are stored, times fit uint32 until 2106, counts are capped).
    function pack(Position memory p) internal pure returns (uint256) {
        return p.granted | (p.debited << DEBITED_SHIFT) | (p.lastTime << LAST_TIME_SHIFT)
            | (p.oldest << OLDEST_SHIFT) | (p.count << COUNT_SHIFT) | (p.root << ROOT_SHIFT);
    }

    /// @notice The word after crediting `amount` at `time` (the newest time so far), or 0 if the
    /// new `granted` would not fit 40 bits or the position already holds {MAX_LIVE} live
    /// checkpoints.
    /// One word in every case: a credit at the newest checkpoint's time adds to it; a credit to an
    /// empty or fully consumed position starts afresh; otherwise the newest checkpoint becomes a
    /// live older one, chained into the root (`link`), and the credit is the new newest.
    /// @dev Equal to unpack, the three cases in plain Solidity, {link} and {pack}
    /// (`PositionCodecHarness.creditedReference`, fuzzed by tests/contracts/test_position_codec.py)
    /// for every word whose fields are in range, `amount` < 2**96 and `time` < 2**32.
    function credited(uint256 word, uint256 amount, uint256 time, bytes32 account, uint8 program)
        internal
        pure
        returns (uint256 next)
    {
        // The hot path of every grant, in assembly: fields are extracted only where needed.
        // Same formula as {link} for the root.
        assembly ("memory-safe") {
            let granted := and(word, M40)
            switch and(iszero(iszero(granted)), eq(and(shr(LAST_TIME_SHIFT, word), M32), time))
            case 1 {
                // At the newest checkpoint's time: add to it.
                let sum := add(granted, amount)
                if iszero(gt(sum, M40)) { next := or(and(word, not(M40)), sum) }
            }
            default {
                switch lt(and(shr(DEBITED_SHIFT, word), M40), granted)
                case 0 {
                    // Empty, or everything credited so far is consumed: no older checkpoint
                    // can lapse unspent, so the history is dropped and the amounts restart.
                    if iszero(gt(amount, M40)) {
                        next := or(amount, or(shl(LAST_TIME_SHIFT, time), shl(OLDEST_SHIFT, time)))
                    }
                }
                default {
                    // The newest checkpoint becomes a live older one, chained into the root;
                    // `debited` and `oldest` stay (the older credits are still there).
                    let sum := add(granted, amount)
                    let count := and(shr(COUNT_SHIFT, word), M16)
                    if and(iszero(gt(sum, M40)), lt(count, MAX_LIVE)) {
                        mstore(0x00, account)
                        let checkpoint := or(and(shr(LAST_TIME_SHIFT, word), M32), shl(CUMULATIVE_SHIFT, granted))
                        mstore(0x20, or(or(checkpoint, shl(LINK_PROGRAM_SHIFT, program)), and(word, ROOT_FIELD)))
                        next :=
                            or(
                                or(sum, and(word, DEBITED_AND_OLDEST)),
                                or(
                                    or(shl(LAST_TIME_SHIFT, time), shl(COUNT_SHIFT, add(count, 1))),
                                    and(keccak256(0x00, 0x40), ROOT_FIELD)
                                )
                            )
                    }
                }
            }
        }
    }

    /// @notice The next root of the hash chain of live checkpoints of (`account`, `program`)
    /// after `checkpoint` (= time | cumulative << 32, 72 bits): the top 96 bits of
    /// keccak256(abi.encode(account, checkpoint | program << 72 | root << 160)). Binding the
    /// account and the program means a forged list must be a second preimage for that position.
    function link(bytes32 account, uint8 program, uint256 root, uint256 checkpoint)
        internal
        pure
        returns (uint256 next)
    {
        assembly ("memory-safe") {
            // The scratch space: no memory is allocated.
            mstore(0x00, account)
            mstore(0x20, or(checkpoint, or(shl(LINK_PROGRAM_SHIFT, program), shl(ROOT_SHIFT, root))))
            next := shr(ROOT_SHIFT, keccak256(0x00, 0x40))
        }
    }

    /// @notice The balance of a stored word.
    function balanceOf(uint256 word) internal pure returns (uint256) {
        return (word & M40) - ((word >> DEBITED_SHIFT) & M40);
    }

    /// @notice The balance of a position.
    function balance(Position memory p) internal pure returns (uint256) {
        return p.granted - p.debited;
    }
}
