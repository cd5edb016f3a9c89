// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Position} from "../types/Position.sol";

/// @title Checkpoints: exact first-in-first-out expiry over cumulative credit checkpoints
/// @notice A {Position} holds the newest checkpoint inline as (lastTime, granted); older ones are
/// "spilled" into an array of (time, cumulative credits) pairs, two per storage word. Credits in
/// the same block share a checkpoint. Because spending is first-in-first-out, what has lapsed and
/// was not spent is max(0, G(cutoff) - debited): one number per checkpoint suffices, and a
/// monotone cursor skips checkpoints that lapsed and were consumed, so expiring never re-reads them.
/// @dev Invariant: every spilled checkpoint before `cursor` has cumulative <= `debited` (the cursor
/// only moves inside an expiry, which then debits up to the last lapsed checkpoint). When all
/// credits are consumed (`debited >= granted`) the history is dropped on the next credit.
library Checkpoints {
    uint256 private constant M32 = (1 << 32) - 1;
    uint256 private constant M96 = (1 << 96) - 1;
    uint256 private constant M128 = (1 << 128) - 1;
    uint256 internal constant MAX_SPILLED = (1 << 16) - 1;

    /// @notice Adds a credit of `amount` at `time` (the newest time so far). Returns false if the
    /// spilled array is full (the caller reverts).
    function credit(Position memory p, mapping(uint256 => uint256) storage cps, uint256 amount, uint256 time)
        internal
        returns (bool ok)
    {
        if (p.granted != 0 && p.lastTime != time) {
            if (p.debited >= p.granted) {
                // Everything credited so far is consumed: no older checkpoint can lapse unspent.
                p.spilled = 0;
                p.cursor = 0;
            } else {
                if (p.spilled == MAX_SPILLED) return false;
                _write(cps, p.spilled, p.lastTime, p.granted);
                p.spilled += 1;
            }
        }
        p.granted += amount;
        p.lastTime = time;
        return true;
    }

    /// @notice Mileage lapsed (credited at or before `cutoff`) and not yet debited, and the
    /// cursor after skipping every spilled checkpoint at or before `cutoff`.
    function lapsed(Position memory p, mapping(uint256 => uint256) storage cps, uint256 cutoff)
        internal
        view
        returns (uint256 amount, uint256 cursor)
    {
        // Checkpoints before the cursor are consumed (<= debited), so starting G at 0 is exact.
        uint256 g = 0;
        cursor = p.cursor;
        uint256 n = p.spilled;
        while (cursor < n) {
            (uint256 t, uint256 cum) = _read(cps, cursor);
            if (t > cutoff) break;
            g = cum;
            ++cursor;
        }
        if (cursor == n && p.granted != 0 && p.lastTime <= cutoff) g = p.granted;
        amount = g > p.debited ? g - p.debited : 0;
    }

    /// @notice Finds the checkpoint credited at `time` and what of it is unspent.
    /// @return index its index (`spilled` for the inline newest checkpoint)
    /// @return remaining its unspent amount (0 if there is no such checkpoint)
    function remainingAt(Position memory p, mapping(uint256 => uint256) storage cps, uint256 time)
        internal
        view
        returns (uint256 index, uint256 remaining)
    {
        uint256 cum = 0;
        uint256 prev = 0;
        if (p.granted != 0 && p.lastTime == time) {
            index = p.spilled;
            cum = p.granted;
        } else {
            // Binary search: spilled times are strictly increasing.
            uint256 lo = 0;
            uint256 hi = p.spilled;
            while (lo < hi) {
                uint256 mid = (lo + hi) / 2;
                (uint256 t,) = _read(cps, mid);
                if (t < time) lo = mid + 1;
                else hi = mid;
            }
            if (lo == p.spilled) return (lo, 0);
            uint256 tLo;
            (tLo, cum) = _read(cps, lo);
            if (tLo != time) return (lo, 0);
            index = lo;
        }
        // Before the first kept checkpoint everything is consumed, so 0 is a safe lower bound.
        if (index > 0) (, prev) = _read(cps, index - 1);
        uint256 floor = p.debited > prev ? p.debited : prev;
        remaining = cum > floor ? cum - floor : 0;
    }

    /// @notice Removes `amount` from the checkpoint at `index` (a correction): every later
    /// cumulative value shifts down. Costs one write per later live checkpoint.
    function reverse(Position memory p, mapping(uint256 => uint256) storage cps, uint256 index, uint256 amount)
        internal
    {
        for (uint256 j = index; j < p.spilled; ++j) {
            (uint256 t, uint256 cum) = _read(cps, j);
            _write(cps, j, t, cum - amount);
        }
        p.granted -= amount;
    }

    /// @notice The unspent amount of every live checkpoint, oldest first.
    function segments(Position memory p, mapping(uint256 => uint256) storage cps)
        internal
        view
        returns (uint256[] memory times, uint256[] memory amounts)
    {
        uint256 n = p.spilled - p.cursor + 1;
        times = new uint256[](n);
        amounts = new uint256[](n);
        uint256 m;
        uint256 prev;
        for (uint256 j = p.cursor; j < p.spilled; ++j) {
            (uint256 t, uint256 cum) = _read(cps, j);
            uint256 floor = p.debited > prev ? p.debited : prev;
            if (cum > floor) {
                times[m] = t;
                amounts[m] = cum - floor;
                ++m;
            }
            prev = cum;
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

    /// @notice Rewrites a position from unspent (time, amount) segments, oldest first: debited
    /// restarts at 0 and the balance is the sum of the amounts. Returns false if too many.
    function rebuild(mapping(uint256 => uint256) storage cps, uint256[] memory times, uint256[] memory amounts)
        internal
        returns (Position memory p, bool ok)
    {
        uint256 n = times.length;
        if (n == 0) return (p, true);
        if (n - 1 > MAX_SPILLED) return (p, false);
        uint256 cum = 0;
        for (uint256 i; i + 1 < n; ++i) {
            cum += amounts[i];
            _write(cps, i, times[i], cum);
        }
        p.granted = cum + amounts[n - 1];
        p.lastTime = times[n - 1];
        p.spilled = n - 1;
        return (p, true);
    }

    function _read(mapping(uint256 => uint256) storage cps, uint256 i) private view returns (uint256 t, uint256 cum) {
        uint256 half = (cps[i >> 1] >> ((i & 1) * 128)) & M128;
        t = half & M32;
        cum = (half >> 32) & M96;
    }

    function _write(mapping(uint256 => uint256) storage cps, uint256 i, uint256 t, uint256 cum) private {
        uint256 shift = (i & 1) * 128;
        uint256 word = cps[i >> 1] & ~(M128 << shift);
        cps[i >> 1] = word | ((t | (cum << 32)) << shift);
    }
}
