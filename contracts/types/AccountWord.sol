// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title AccountWord: an account's completeness proof and flags, packed in one storage word
/// @notice Layout (low bits first), see contracts/README.md "Storage layout":
///   [0, 48)    count            number of entries (the last entry's seq)
///   [48]       donationConsent  expiring mileage is recorded as EXPIRY_DONATION
///   [49]       merged           the account was merged into its successor and takes no entries
///   [64, 256)  head             the hash-chain head, a bytes24 (docs/DESIGN.md)
/// One word per account keeps a grant to an existing account at one write for the proof.
library AccountWord {
    uint256 internal constant COUNT_MASK = (1 << 48) - 1;
    uint256 internal constant CONSENT = 1 << 48;
    uint256 internal constant MERGED = 1 << 49;
    uint256 internal constant FLAGS = CONSENT | MERGED;
    uint256 internal constant HEAD_SHIFT = 64;

    /// @notice The entry count of a word.
    function count(uint256 word) internal pure returns (uint256) {
        return word & COUNT_MASK;
    }

    /// @notice The hash-chain head of a word.
    function head(uint256 word) internal pure returns (bytes24) {
        return bytes24(bytes32(word));
    }

    /// @notice Whether the donation consent flag is set.
    function consents(uint256 word) internal pure returns (bool) {
        return word & CONSENT != 0;
    }

    /// @notice Whether the merged flag is set.
    function isMerged(uint256 word) internal pure returns (bool) {
        return word & MERGED != 0;
    }

    /// @notice The word after appending an entry: new head and count, flags kept.
    function appended(uint256 word, bytes24 newHead, uint256 seq) internal pure returns (uint256) {
        return uint256(bytes32(newHead)) | (word & FLAGS) | seq;
    }
}
