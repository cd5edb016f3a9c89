// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title AwardBitmap: which award numbers were recorded, one bit each (Permit2-style nonces)
/// @notice Award numbers are sequential (assigned by the database), so a batch of consecutive
/// numbers shares one or two 256-bit words: idempotency costs ~1/256 of a fresh slot per award
/// instead of a slot per award id. `MileageLedger.grantBatch` sets the bits itself, caching the
/// word of consecutive numbers in memory and writing it once per batch (or per 256 numbers).
library AwardBitmap {
    /// @notice Whether `awardNo` was recorded.
    function isRecorded(mapping(uint256 => uint256) storage bitmap, uint64 awardNo) internal view returns (bool) {
        return bitmap[uint256(awardNo) >> 8] & (uint256(1) << (uint256(awardNo) & 0xff)) != 0;
    }
}
