// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccountId, ProgramId} from "../types/Ids.sol";

/// @title HashChain: the per-account completeness proof of docs/DESIGN.md
/// @notice head' = bytes24(keccak256(abi.encodePacked(head, account, entry, ref))) with types
/// (bytes24, bytes32, uint256, bytes32): 120 bytes, where `entry` is the packed entry word that
/// {IMileageLedger-EntryRecorded} carries. A verifier therefore hashes the event's own bytes.
library HashChain {
    /// @notice Packs an entry's fixed-width fields into the word emitted and hashed.
    /// @dev Layout (low bits first): seq [0,48) | kind [48,56) | program [56,64) | reason [64,72)
    /// | timestamp [72,112) | amount [112,208). Callers keep every field in range.
    function entryWord(uint256 seq, uint8 kind, ProgramId program, uint8 reason, uint256 time, uint96 amount)
        internal
        pure
        returns (uint256)
    {
        return seq | (uint256(kind) << 48) | (uint256(program.code()) << 56) | (uint256(reason) << 64) | (time << 72)
            | (uint256(amount) << 112);
    }

    /// @notice The next head. Hashes in scratch memory above the free-memory pointer without
    /// moving it, so a batch of 500 grants does not grow memory (memory cost is quadratic).
    function next(bytes24 head, AccountId account, uint256 entry, bytes32 ref) internal pure returns (bytes24 result) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            // bytes24 is left-aligned: the first 24 bytes are the head, the account overwrites the rest.
            mstore(p, head)
            mstore(add(p, 24), account)
            mstore(add(p, 56), entry)
            mstore(add(p, 88), ref)
            result := and(keccak256(p, 120), not(0xffffffffffffffff))
        }
    }
}
