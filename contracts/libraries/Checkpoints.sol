// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Position, PositionCodec} from "../types/Position.sol";

/// @title Checkpoints: exact first-in-first-out expiry over cumulative credit checkpoints
/// @notice A {Position} holds its newest checkpoint inline as (lastTime, granted). Older ones that
/// may still hold unspent mileage (the "live" checkpoints, oldest first, each packed as
/// `time | cumulative << 32`) are not stored: the position keeps their count and a 96-bit hash
/// chain over them from zero ({PositionCodec-link}), and the functions that need them (expire,
/// correct, merge, and a spend once something may have lapsed) take the list as calldata and
/// check it against the count and the root. A grant therefore writes one word whatever the
/// account holds. Because spending is first-in-first-out, what has lapsed and was not spent is
/// max(0, G(cutoff) - debited): one number per checkpoint suffices.
/// @dev Invariants: live times strictly increase and are older than `lastTime`; cumulatives
/// never decrease and never exceed `granted`. Checkpoints dropped from the list (by {seal}) were
/// consumed (cumulative <= debited), so starting G at 0 stays exact. The list held on-chain is
/// always a suffix of the checkpoints a replay of the account's entries builds (credits at new
/// times append, {seal} drops a consumed prefix), which is how callers rebuild it.
library Checkpoints {
    uint256 private constant M32 = (1 << 32) - 1;

    /// @notice Reads `live` into memory and checks that it is exactly `p`'s live list.
    /// @return ok whether the length is `p.count` and the chain over the list is `p.root`
    /// @return times the checkpoints' times
    /// @return cums the checkpoints' cumulative credits
    function open(Position memory p, bytes32 account, uint8 program, uint256[] calldata live)
        internal
        pure
        returns (bool ok, uint256[] memory times, uint256[] memory cums)
    {
        uint256 n = live.length;
        times = new uint256[](n);
        cums = new uint256[](n);
        if (n != p.count) return (false, times, cums);
        uint256 root = 0;
        for (uint256 i; i < n; ++i) {
            uint256 w = live[i];
            root = PositionCodec.link(account, program, root, w);
            times[i] = w & M32;
            cums[i] = w >> 32;
        }
        ok = root == p.root;
    }

    /// @notice Mileage credited at or before `cutoff` and not yet debited.
    function lapsed(Position memory p, uint256[] memory times, uint256[] memory cums, uint256 cutoff)
        internal
        pure
        returns (uint256 amount)
    {
        uint256 g = 0;
        uint256 n = times.length;
        uint256 i = 0;
        while (i < n && times[i] <= cutoff) {
            g = cums[i];
            ++i;
        }
        if (i == n && p.granted != 0 && p.lastTime <= cutoff) g = p.granted;
        amount = g > p.debited ? g - p.debited : 0;
    }

    /// @notice Drops the consumed prefix of the list (cumulative <= debited) and stores the rest
    /// in `p` as its count and root; `oldest` becomes exact (the first unspent credit's time).
    function seal(
        Position memory p,
        bytes32 account,
        uint8 program,
        uint256[] memory times,
        uint256[] memory cums
    ) internal pure {
        uint256 n = times.length;
        uint256 first = 0;
        while (first < n && cums[first] <= p.debited) ++first;
        uint256 root = 0;
        for (uint256 i = first; i < n; ++i) {
            root = PositionCodec.link(account, program, root, times[i] | (cums[i] << 32));
        }
        p.root = root;
        p.count = n - first;
        p.oldest = first < n ? times[first] : p.lastTime;
    }

    /// @notice Finds the checkpoint credited at `time` and what of it is unspent.
    /// @return index its index in the list (the list's length for the inline newest checkpoint)
    /// @return remaining its unspent amount (0 if there is no such checkpoint)
    function remainingAt(Position memory p, uint256[] memory times, uint256[] memory cums, uint256 time)
        internal
        pure
        returns (uint256 index, uint256 remaining)
    {
        uint256 n = times.length;
        uint256 cum;
        if (p.granted != 0 && p.lastTime == time) {
            index = n;
            cum = p.granted;
        } else {
            while (index < n && times[index] < time) ++index;
            if (index == n || times[index] != time) return (index, 0);
            cum = cums[index];
        }
        // Before the first live checkpoint everything is consumed, so 0 is a safe lower bound.
        uint256 prev = index > 0 ? cums[index - 1] : 0;
        uint256 floor = p.debited > prev ? p.debited : prev;
        remaining = cum > floor ? cum - floor : 0;
    }

    /// @notice Removes `amount` from the checkpoint at `index` (a correction): every later
    /// cumulative value, and `granted`, shift down.
    function reverse(Position memory p, uint256[] memory cums, uint256 index, uint256 amount) internal pure {
        for (uint256 j = index; j < cums.length; ++j) {
            cums[j] -= amount;
        }
        p.granted -= amount;
    }

    /// @notice The unspent amount of every checkpoint, oldest first.
    function segments(Position memory p, uint256[] memory ts, uint256[] memory cs)
        internal
        pure
        returns (uint256[] memory times, uint256[] memory amounts)
    {
        uint256 n = ts.length + 1;
        times = new uint256[](n);
        amounts = new uint256[](n);
        uint256 m;
        uint256 prev;
        for (uint256 j; j < ts.length; ++j) {
            uint256 floor = p.debited > prev ? p.debited : prev;
            if (cs[j] > floor) {
                times[m] = ts[j];
                amounts[m] = cs[j] - floor;
                ++m;
            }
            prev = cs[j];
        }
        uint256 lastFloor = p.debited > prev ? p.debited : prev;
        if (p.granted > lastFloor) {
            times[m] = p.lastTime;
            amounts[m] = p.granted - lastFloor;
            ++m;
        }
        assembly ("memory-safe") {
            mstore(times, m)
            mstore(amounts, m)
        }
    }

    /// @notice Merges two lists of (time, amount) sorted by time, adding amounts of equal times.
    function mergeSorted(uint256[] memory ta, uint256[] memory aa, uint256[] memory tb, uint256[] memory ab)
        internal
        pure
        returns (uint256[] memory times, uint256[] memory amounts)
    {
        times = new uint256[](ta.length + tb.length);
        amounts = new uint256[](ta.length + tb.length);
        uint256 i;
        uint256 j;
        uint256 m;
        while (i < ta.length || j < tb.length) {
            uint256 t;
            uint256 a;
            if (j == tb.length || (i < ta.length && ta[i] < tb[j])) {
                (t, a) = (ta[i], aa[i]);
                ++i;
            } else if (i == ta.length || tb[j] < ta[i]) {
                (t, a) = (tb[j], ab[j]);
                ++j;
            } else {
                (t, a) = (ta[i], aa[i] + ab[j]);
                ++i;
                ++j;
            }
            times[m] = t;
            amounts[m] = a;
            ++m;
        }
        assembly ("memory-safe") {
            mstore(times, m)
            mstore(amounts, m)
        }
    }

    /// @notice A position built afresh from unspent (time, amount) segments, oldest first:
    /// debited 0, the balance the sum of the amounts, every segment but the newest a live
    /// checkpoint. Returns false if there are too many or the sum does not fit 40 bits.
    function rebuild(bytes32 account, uint8 program, uint256[] memory times, uint256[] memory amounts)
        internal
        pure
        returns (Position memory p, bool ok)
    {
        uint256 n = times.length;
        if (n == 0) return (p, true);
        if (n - 1 > PositionCodec.MAX_LIVE) return (p, false);
        uint256 cum = 0;
        uint256 root = 0;
        for (uint256 i; i + 1 < n; ++i) {
            cum += amounts[i];
            root = PositionCodec.link(account, program, root, times[i] | (cum << 32));
        }
        p.granted = cum + amounts[n - 1];
        if (p.granted > PositionCodec.M40) return (p, false);
        p.lastTime = times[n - 1];
        p.oldest = times[0];
        p.count = n - 1;
        p.root = root;
        return (p, true);
    }
}
