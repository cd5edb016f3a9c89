// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @notice The state of one account in one program, unpacked from its single storage word.
/// @dev Packed layout of the word (low bits first), see contracts/README.md:
///   [0, 96)    granted   cumulative credits on the expiry time line (net of corrections)
///   [96, 192)  debited   cumulative debits (every spend, conversion, expiry, correction... )
///   [192, 224) lastTime  time of the newest credit (its checkpoint is (lastTime, granted))
///   [224, 240) spilled   number of older checkpoints kept in the checkpoint array
///   [240, 256) cursor    checkpoints before it have lapsed and are fully consumed
/// balance = granted - debited. Under first-in-first-out spending, the mileage lapsed and not
/// spent at time `now` is max(0, G(now - validity) - debited), G(t) = cumulative credits up to t.
struct Position {
    uint256 granted;
    uint256 debited;
    uint256 lastTime;
    uint256 spilled;
    uint256 cursor;
}

using PositionCodec for Position global;

/// @title PositionCodec: packs a {Position} into one storage word and back
library PositionCodec {
    uint256 internal constant M96 = (1 << 96) - 1;
    uint256 internal constant M32 = (1 << 32) - 1;
    uint256 internal constant M16 = (1 << 16) - 1;

    /// @notice Unpacks a stored word.
    function unpack(uint256 word) internal pure returns (Position memory p) {
        p.granted = word & M96;
        p.debited = (word >> 96) & M96;
        p.lastTime = (word >> 192) & M32;
        p.spilled = (word >> 224) & M16;
        p.cursor = word >> 240;
    }

    /// @notice Packs a position; the callers keep every field in range (amounts are checked
    /// against uint96 before they are added, times fit uint32 until 2106, counts are capped).
    function pack(Position memory p) internal pure returns (uint256) {
        return p.granted | (p.debited << 96) | (p.lastTime << 192) | (p.spilled << 224) | (p.cursor << 240);
    }

    /// @notice The word after crediting `amount` at `time` when no checkpoint has to be kept
    /// (see {Checkpoints-credit}): the position is empty or fully spent (its history is dropped),
    /// or `time` is the newest checkpoint's. Returns 0 when a checkpoint would spill, or the sum
    /// would overflow: the caller then takes the general path (which reverts on overflow).
    function creditInPlace(uint256 word, uint256 amount, uint256 time) internal pure returns (uint256) {
        uint256 granted = word & M96;
        uint256 debited = (word >> 96) & M96;
        uint256 sum = granted + amount;
        if (sum > M96) return 0;
        if (granted != 0 && ((word >> 192) & M32) == time) {
            return (word & ~M96) | sum;
        }
        if (debited >= granted) {
            // Empty, or everything credited so far is consumed: spilled and cursor restart at 0.
            return sum | (debited << 96) | (time << 192);
        }
        return 0;
    }

    /// @notice The balance of a stored word.
    function balanceOf(uint256 word) internal pure returns (uint256) {
        return (word & M96) - ((word >> 96) & M96);
    }

    /// @notice The balance of a position.
    function balance(Position memory p) internal pure returns (uint256) {
        return p.granted - p.debited;
    }
}
