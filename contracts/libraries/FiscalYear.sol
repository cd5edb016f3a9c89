// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title FiscalYear: the Korean fiscal year (the calendar year in KST, UTC+9) of a unix time
library FiscalYear {
    uint256 private constant KST_OFFSET = 9 hours;

    /// @notice The calendar year in Korea Standard Time of `timestamp`.
    /// @dev Howard Hinnant's civil_from_days, restricted to non-negative day numbers.
    // slither-disable-start divide-before-multiply
    // Accepted: the integer divisions ARE the calendar arithmetic (eras of 400 years, leap rules);
    // they are exact by construction and checked against known dates in tests.
    function yearOf(uint256 timestamp) internal pure returns (uint16) {
        uint256 z = (timestamp + KST_OFFSET) / 1 days + 719_468;
        uint256 era = z / 146_097;
        uint256 doe = z - era * 146_097;
        uint256 yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        uint256 year = yoe + era * 400;
        // mp counts months from March: 10 and 11 are January and February of the next year.
        if (mp >= 10) year += 1;
        return uint16(year);
    }
    // slither-disable-end divide-before-multiply
}
