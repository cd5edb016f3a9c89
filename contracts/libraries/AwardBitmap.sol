// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title AwardBitmap: which award numbers were recorded, one bit each (Permit2-style nonces)
/// @notice Award numbers are sequential (assigned by the database), so a batch of consecutive
/// numbers shares one or two 256-bit words: idempotency costs ~1/256 of a fresh slot per award
/// instead of a slot per award id. `MileageLedger.grantBatch` sets the bits itself, caching the
/// word of consecutive numbers in memory and writing it once per batch (or per 256 numbers).
/// Numbers are namespaced per program: the word index packs the program above the number's
/// high 56 bits (`program << 56 | awardNo >> 8`), so an issuer of one program can never mark,
/// and so skip, a number of another, and the same number may be recorded in two programs.
library AwardBitmap {
    /// @notice The bitmap word index of `program`'s number `awardNo`: `program << 56 | awardNo >> 8`.
    function wordOf(uint8 program, uint64 awardNo) internal pure returns (uint256) {
        return uint256(program) << 56 | uint256(awardNo) >> 8;
    }

    /// @notice Whether `program`'s award number `awardNo` was recorded.
    function isRecorded(mapping(uint256 => uint256) storage bitmap, uint8 program, uint64 awardNo)
        internal
        view
        returns (bool)
    {
        return bitmap[wordOf(program, awardNo)] & (uint256(1) << (uint256(awardNo) & 0xff)) != 0;
    }
}
