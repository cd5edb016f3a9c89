// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title AwardBitmap: which award numbers were recorded, one bit each (Permit2-style nonces)
/// @notice Award numbers are sequential (assigned by the database), so a batch of consecutive
/// numbers shares one or two 256-bit words: idempotency costs ~1/256 of a fresh slot per award
/// instead of a slot per award id.
library AwardBitmap {
    /// @notice Records `awardNo`; returns false (and changes nothing) if it was recorded before.
    function record(mapping(uint256 => uint256) storage bitmap, uint64 awardNo) internal returns (bool fresh) {
        uint256 word = uint256(awardNo) >> 8;
        uint256 bit = uint256(1) << (uint256(awardNo) & 0xff);
        uint256 bits = bitmap[word];
        if (bits & bit != 0) return false;
        bitmap[word] = bits | bit;
        return true;
    }

    /// @notice Whether `awardNo` was recorded.
    function isRecorded(mapping(uint256 => uint256) storage bitmap, uint64 awardNo) internal view returns (bool) {
        return bitmap[uint256(awardNo) >> 8] & (uint256(1) << (uint256(awardNo) & 0xff)) != 0;
    }
}
