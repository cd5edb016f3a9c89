// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title HashChain: the per-account completeness proof of docs/DESIGN.md
/// @notice head' = keccak256(abi.encode(head, account, seq, kind, program, amount, reason, ref, timestamp))
/// with types (bytes32, bytes32, uint64, uint8, uint8, uint96, uint8, bytes32, uint64).
library HashChain {
    /// @dev Hashes in scratch memory above the free-memory pointer without moving it, so a batch of
    /// 500 grants does not grow memory by 500 encodings (memory cost is quadratic). Every narrow
    /// value is masked, so the words are exactly what abi.encode would produce.
    function next(
        bytes32 head,
        bytes32 account,
        uint64 seq,
        uint8 kind,
        uint8 program,
        uint96 amount,
        uint8 reason,
        bytes32 ref,
        uint64 time
    ) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, head)
            mstore(add(p, 0x20), account)
            mstore(add(p, 0x40), and(seq, 0xffffffffffffffff))
            mstore(add(p, 0x60), and(kind, 0xff))
            mstore(add(p, 0x80), and(program, 0xff))
            mstore(add(p, 0xa0), and(amount, 0xffffffffffffffffffffffff))
            mstore(add(p, 0xc0), and(reason, 0xff))
            mstore(add(p, 0xe0), ref)
            mstore(add(p, 0x100), and(time, 0xffffffffffffffff))
            result := keccak256(p, 0x120)
        }
    }
}
