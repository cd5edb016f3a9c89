"""The pure domain core: codes, award rules, award and account ids, the entry hash chain.

Invariant: nothing under `ledger.domain` performs I/O or imports a database, web or chain
library; every function is deterministic over its arguments (keccak and HMAC included).
Money is `int` (1 mileage = 1 KRW); rates are exact (`Fraction`/`Decimal`), never floats.
"""
