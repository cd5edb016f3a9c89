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
    uint256 internal constant M40 = (1 << 40) - 1;
    uint256 internal constant M32 = (1 << 32) - 1;
    uint256 internal constant M16 = (1 << 16) - 1;
    /// @notice The most live older checkpoints a position can hold.
    uint256 internal constant MAX_LIVE = M16;

    /// @notice Unpacks a stored word.
    function unpack(uint256 word) internal pure returns (Position memory p) {
        p.granted = word & M40;
        p.debited = (word >> 40) & M40;
        p.lastTime = (word >> 80) & M32;
        p.oldest = (word >> 112) & M32;
        p.count = (word >> 144) & M16;
        p.root = word >> 160;
    }

    /// @notice Packs a position; the callers keep every field in range (amounts are checked
    /// against 40 bits before they are stored, times fit uint32 until 2106, counts are capped).
    function pack(Position memory p) internal pure returns (uint256) {
        return p.granted | (p.debited << 40) | (p.lastTime << 80) | (p.oldest << 112) | (p.count << 144)
            | (p.root << 160);
    }

    /// @notice The word after crediting `amount` at `time` (the newest time so far), or 0 if the
    /// new `granted` would not fit 40 bits or the position already holds {MAX_LIVE} live
    /// checkpoints.
    /// One word in every case: a credit at the newest checkpoint's time adds to it; a credit to an
    /// empty or fully consumed position starts afresh; otherwise the newest checkpoint becomes a
    /// live older one, chained into the root (`link`), and the credit is the new newest.
    function credited(uint256 word, uint256 amount, uint256 time, bytes32 account, uint8 program)
        internal
        pure
        returns (uint256 next)
    {
        // The hot path of every grant, in assembly: fields are extracted only where needed.
        // Same formula as {link} for the root.
        assembly ("memory-safe") {
            let granted := and(word, 0xffffffffff)
            switch and(iszero(iszero(granted)), eq(and(shr(80, word), 0xffffffff), time))
            case 1 {
                // At the newest checkpoint's time: add to it.
                let sum := add(granted, amount)
                if iszero(gt(sum, 0xffffffffff)) { next := or(and(word, not(0xffffffffff)), sum) }
            }
            default {
                switch lt(and(shr(40, word), 0xffffffffff), granted)
                case 0 {
                    // Empty, or everything credited so far is consumed: no older checkpoint
                    // can lapse unspent, so the history is dropped and the amounts restart.
                    if iszero(gt(amount, 0xffffffffff)) { next := or(amount, or(shl(80, time), shl(112, time))) }
                }
                default {
                    // The newest checkpoint becomes a live older one, chained into the root;
                    // `debited` and `oldest` stay (the older credits are still there).
                    let sum := add(granted, amount)
                    let count := and(shr(144, word), 0xffff)
                    if and(iszero(gt(sum, 0xffffffffff)), lt(count, 0xffff)) {
                        mstore(0x00, account)
                        let checkpoint := or(and(shr(80, word), 0xffffffff), shl(32, granted))
                        mstore(0x20, or(or(checkpoint, shl(72, program)), and(word, not(sub(shl(160, 1), 1)))))
                        next :=
                            or(
                                or(sum, and(word, 0xffffffff00000000ffffffffff0000000000)),
                                or(or(shl(80, time), shl(144, add(count, 1))), and(keccak256(0x00, 0x40), not(sub(shl(160, 1), 1))))
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
            mstore(0x20, or(checkpoint, or(shl(72, program), shl(160, root))))
            next := shr(160, keccak256(0x00, 0x40))
        }
    }

    /// @notice The balance of a stored word.
    function balanceOf(uint256 word) internal pure returns (uint256) {
        return (word & M40) - ((word >> 40) & M40);
    }

    /// @notice The balance of a position.
    function balance(Position memory p) internal pure returns (uint256) {
        return p.granted - p.debited;
    }
}
