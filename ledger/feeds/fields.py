"""The text rules of the cells that are stored: member ids and the other identifiers.

One member-id rule for every way a member id enters the ledger (feeds, the API's award
batches, `members import`): printable characters only (no tab, newline or other control or
format character), no `|` (it separates the parts of an award id), no surrounding spaces,
at most `MEMBER_ID_MAX` characters (the database column). Other stored text (citizen id,
district, vehicle id) is printable and fits its column.
"""

from __future__ import annotations

import unicodedata

MEMBER_ID_MAX = 64
"""Characters of `members.member_id` / `awards.member_id` (ledger/adapters/orm.py)."""
CITIZEN_ID_MAX = 128
DISTRICT_MAX = 64
VEHICLE_ID_MAX = 32

# Unicode categories that are not printable text: controls (tab, CR, LF, NUL...), format
# characters (zero-width, bidi overrides), surrogates, private use, unassigned, and line or
# paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def text_problem(text: str, max_chars: int) -> str | None:
    """What is wrong with stored text `text` (printable, at most `max_chars`), or None."""
    if len(text) > max_chars:
        return f"has {len(text)} characters; at most {max_chars} are allowed"
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char) in _UNPRINTABLE:
            return (
                f"contains the control character U+{ord(char):04X} at position {position}; "
                "remove tabs, line breaks and other invisible characters"
            )
    return None


def member_id_problem(text: str) -> str | None:
    """What is wrong with the member id `text`, or None when it is usable."""
    if not text:
        return "is empty; a value is required"
    if text != text.strip():
        return f"{text[:MEMBER_ID_MAX]!r} has surrounding spaces"
    problem = text_problem(text, MEMBER_ID_MAX)
    if problem is not None:
        return problem
    if "|" in text:
        return f"{text!r} contains '|', which separates the parts of an award id"
    return None
