// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Position, PositionCodec} from "../types/Position.sol";

/// @title PositionCodecHarness: {PositionCodec} behind external functions, for tests only
/// @notice Never deployed by `mileage deploy`; tests/contracts/test_position_codec.py calls it to
/// fuzz the assembly of {PositionCodec-credited} against {creditedReference}, the same rule
/// written in plain Solidity with {PositionCodec-unpack}, {PositionCodec-pack} and
/// {PositionCodec-link}, and to check the codec's named masks against their formulas.
contract PositionCodecHarness {
    /// @notice {PositionCodec-pack} of the six fields.
    /// @param p the position
    /// @return word the packed word
    function pack(Position memory p) external pure returns (uint256 word) {
        return PositionCodec.pack(p);
    }

    /// @notice {PositionCodec-unpack}.
    /// @param word a packed word
    /// @return p its fields
    function unpack(uint256 word) external pure returns (Position memory p) {
        return PositionCodec.unpack(word);
    }

    /// @notice {PositionCodec-link}.
    /// @param account the position's account
    /// @param program the position's program
    /// @param root the root so far
    /// @param checkpoint the checkpoint appended
    /// @return next the next root
    function link(bytes32 account, uint8 program, uint256 root, uint256 checkpoint)
        external
        pure
        returns (uint256 next)
    {
        return PositionCodec.link(account, program, root, checkpoint);
    }

    /// @notice {PositionCodec-credited} (the assembly under test).
    /// @param word the position word before the credit
    /// @param amount the amount credited
    /// @param time the credit's time
    /// @param account the position's account
    /// @param program the position's program
    /// @return next the word after the credit, 0 if it cannot be credited
    function credited(uint256 word, uint256 amount, uint256 time, bytes32 account, uint8 program)
        external
        pure
        returns (uint256 next)
    {
        return PositionCodec.credited(word, amount, time, account, program);
    }

    /// @notice What {PositionCodec-credited} must return, in plain Solidity.
    /// @param word the position word before the credit
    /// @param amount the amount credited
    /// @param time the credit's time
    /// @param account the position's account
    /// @param program the position's program
    /// @return next the word after the credit, 0 if it cannot be credited
    function creditedReference(uint256 word, uint256 amount, uint256 time, bytes32 account, uint8 program)
        external
        pure
        returns (uint256 next)
    {
        Position memory p = PositionCodec.unpack(word);
        if (p.granted != 0 && p.lastTime == time) {
            // At the newest checkpoint's time: add to it.
            if (p.granted + amount > PositionCodec.M40) return 0;
            p.granted += amount;
            return PositionCodec.pack(p);
        }
        if (p.debited >= p.granted) {
            // Empty or spent out: start afresh.
            if (amount > PositionCodec.M40) return 0;
            return PositionCodec.pack(Position(amount, 0, time, time, 0, 0));
        }
        // A new date: the newest checkpoint becomes a live older one.
        if (p.granted + amount > PositionCodec.M40 || p.count >= PositionCodec.MAX_LIVE) return 0;
        p.root = PositionCodec.link(account, program, p.root, p.lastTime | (p.granted << 32));
        p.count += 1;
        p.granted += amount;
        p.lastTime = time;
        return PositionCodec.pack(p);
    }

    /// @notice The codec's masks and offsets, in declaration order, for the test to check.
    /// @return values M40, M32, M16, MAX_LIVE, the five shifts, ROOT_FIELD, DEBITED_AND_OLDEST,
    /// CUMULATIVE_SHIFT, LINK_PROGRAM_SHIFT
    function constants() external pure returns (uint256[13] memory values) {
        values = [
            PositionCodec.M40,
            PositionCodec.M32,
            PositionCodec.M16,
            PositionCodec.MAX_LIVE,
            PositionCodec.DEBITED_SHIFT,
            PositionCodec.LAST_TIME_SHIFT,
            PositionCodec.OLDEST_SHIFT,
            PositionCodec.COUNT_SHIFT,
            PositionCodec.ROOT_SHIFT,
            PositionCodec.ROOT_FIELD,
            PositionCodec.DEBITED_AND_OLDEST,
            PositionCodec.CUMULATIVE_SHIFT,
            PositionCodec.LINK_PROGRAM_SHIFT
        ];
    }
}
