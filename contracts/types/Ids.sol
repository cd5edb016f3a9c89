// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

// Typed ids: an account and a program are not interchangeable with the other `bytes32` and
// `uint8` values an entry carries (its ref; its kind and reason), so passing one in the place of
// another is a compile error where they sit side by side: {HashChain-entryWord},
// {HashChain-next}, `MileageLedger._append` (every entry) and `_debit`. The external ABI keeps
// `bytes32` and `uint8` (the ABI JSON, and so a deployment's ABI hash, is unchanged): external
// functions wrap their arguments where they hand them to these internals. `_credit`, the grant
// hot path, keeps the bare types: typed, the optimizer lays it out differently, +6 gas an award.

/// @notice A pseudonymous account id (docs/DESIGN.md), never 0 once it reaches an entry.
type AccountId is bytes32;

/// @notice A program code (contracts/types/Codes.sol), 1..PROGRAM_MAX once it reaches an entry
/// (`MileageLedger._active` let it through).
type ProgramId is uint8;

using {raw} for AccountId global;
using {code} for ProgramId global;

/// @notice The account id as the ABI carries it (events, errors, mapping keys).
function raw(AccountId account) pure returns (bytes32) {
    return AccountId.unwrap(account);
}

/// @notice The program code as the ABI carries it (events, errors, mapping keys, array indices).
function code(ProgramId program) pure returns (uint8) {
    return ProgramId.unwrap(program);
}
