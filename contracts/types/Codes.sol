// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

// The numeric codes fixed by docs/DESIGN.md, mirrored by ledger/domain/codes.py.
// Change them only together with every consumer (contract, Python mirror, indexer, verifier).

// Programs (uint8). 0 is never a program.
uint8 constant PROGRAM_ECO_HOUSEHOLD = 1;
uint8 constant PROGRAM_ECO_ORG = 2;
uint8 constant PROGRAM_CAR = 3;
uint8 constant PROGRAM_BIKE = 4;
uint8 constant PROGRAM_ECO_SEASON = 5;
uint8 constant PROGRAM_CAR_SEASON = 6;
uint8 constant PROGRAM_SEOUL = 7;
uint8 constant PROGRAM_MAX = 7;

// Entry kinds (uint8). GRANT, CONVERSION_IN, MERGE_IN and REFUND credit; the others debit.
uint8 constant KIND_GRANT = 1;
uint8 constant KIND_CONVERSION_OUT = 2;
uint8 constant KIND_CONVERSION_IN = 3;
uint8 constant KIND_DEDUCTION = 4;
uint8 constant KIND_EXPIRY = 5;
uint8 constant KIND_CORRECTION = 6;
uint8 constant KIND_MERGE_OUT = 7;
uint8 constant KIND_MERGE_IN = 8;
uint8 constant KIND_REFUND = 9;

// Deduction reasons (uint8, PROGRAM_RULES section 3). Credits carry NONE.
uint8 constant REASON_NONE = 0;
uint8 constant REASON_CONVERSION = 1;
uint8 constant REASON_TAX_PAYMENT = 2;
uint8 constant REASON_CASH = 3;
uint8 constant REASON_GIFT_CERTIFICATE = 4;
uint8 constant REASON_APARTMENT_FEE = 5;
uint8 constant REASON_TRANSIT_CARD = 6;
uint8 constant REASON_ECO_PRODUCT = 7;
uint8 constant REASON_BIKE_PASS = 8;
uint8 constant REASON_DONATION = 9;
uint8 constant REASON_EXPIRY = 10;
uint8 constant REASON_EXPIRY_DONATION = 11;
uint8 constant REASON_CORRECTION = 12;
uint8 constant REASON_MERGE = 13;
uint8 constant REASON_CARD_POINTS = 14;
