"""Sign-up dates against award windows (PROGRAM_RULES §2.5; docs/rules.md §2.5).

- No award for a window that starts before the member's sign-up date (`joined_at`, the date
  in the program's own system): joining on the window's first day is in time.
- The season specials (ECO_SEASON, CAR_SEASON) pay only members who signed up **before** the
  season starts ("계절관리제 시작 전날까지 … 회원가입"): at the latest on November 30.
"""

from __future__ import annotations

from datetime import date

from ledger.domain import windows
from ledger.domain.codes import Program

SEASON_PROGRAMS = frozenset({Program.ECO_SEASON, Program.CAR_SEASON})


def signup_problem(program: Program, period: str, joined_at: date) -> str | None:
    """Why a member who joined on `joined_at` cannot be awarded `period`, or None."""
    start = windows.first_day(program, period)
    if program in SEASON_PROGRAMS:
        if joined_at >= start:
            return (
                f"joined_at: the member signed up on {joined_at}, not before the season "
                f"starting {start}; season points need sign-up by the day before, "
                "drop the row"
            )
        return None
    if joined_at > start:
        return (
            f"joined_at: the member signed up on {joined_at}, after the window {period} "
            f"started ({start}); no award for a window before sign-up, drop the row"
        )
    return None
