// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @notice The two views of the ledger the state reader calls (a subset of IMileageLedger).
interface ILedgerViews {
    /// @notice Completeness state of `account`: entry count, hash-chain head, merge successor
    /// and donation consent.
    /// @param account The account id.
    function accountState(bytes32 account) external view returns (uint64, bytes24, bytes32, bool);

    /// @notice Balances of `account`, indexed by program code (index 0 unused).
    /// @param account The account id.
    function balancesOf(bytes32 account) external view returns (uint256[8] memory);
}

/// @title LedgerStateReader
/// @notice Reads `accountState` and `balancesOf` of many accounts in one `eth_call`. Never
/// deployed: the verifier (bridge/raw_reader.py) places its runtime code at an unused address
/// with an `eth_call` state override; nodes without state overrides get plain calls instead.
/// @dev Output: 12 words per account (count, head, successor, donation, balances[0..7]); the
/// bytes24 head is left-aligned in its word, as the ABI encodes it.
contract LedgerStateReader {
    /// @notice The state of every account in `accounts`, 12 words each, in input order.
    /// @param ledger The ledger contract to read.
    /// @param accounts The account ids.
    /// @return out count, head, successor, donation (0/1) and balances[0..7] per account.
    function read(ILedgerViews ledger, bytes32[] calldata accounts)
        external
        view
        returns (uint256[] memory out)
    {
        out = new uint256[](accounts.length * 12);
        for (uint256 i = 0; i < accounts.length; ++i) {
            (uint64 count, bytes24 head, bytes32 successor, bool donation) =
                ledger.accountState(accounts[i]);
            uint256[8] memory balances = ledger.balancesOf(accounts[i]);
            uint256 o = i * 12;
            out[o] = count;
            out[o + 1] = uint256(bytes32(head));
            out[o + 2] = uint256(successor);
            out[o + 3] = donation ? 1 : 0;
            for (uint256 p = 0; p < 8; ++p) {
                out[o + 4 + p] = balances[p];
            }
        }
    }
}
