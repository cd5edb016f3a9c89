"""Car eligibility and the season photo deadlines (PROGRAM_RULES §2.5; docs/rules.md §2.3, §2.5).

- CAR and CAR_SEASON pay only cars registered in Seoul, non-commercial (비사업용), with at
  most 12 seats.
- CAR_SEASON: the start odometer photo is registered before the season starts (by Nov 30)
  and the end photo within the first 10 days after the season (April 1–10).
An ineligible row is rejected with the reason (the feed should not list the car).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

MAX_SEATS = 12
END_PHOTO_DAYS = 10


@dataclass(frozen=True, slots=True)
class Vehicle:
    """The attributes of a car that decide whether it may take part."""

    seoul_registered: bool
    commercial: bool
    seats: int


def vehicle_problems(vehicle: Vehicle) -> list[tuple[str, str]]:
    """(column, problem) for every reason the car is not eligible; empty when it is."""
    problems: list[tuple[str, str]] = []
    if not vehicle.seoul_registered:
        problems.append(
            ("seoul_registered", "the car is not registered in Seoul; only Seoul cars take part")
        )
    if vehicle.commercial:
        problems.append(
            ("commercial", "the car is commercial (사업용); only private cars take part")
        )
    if not 1 <= vehicle.seats <= MAX_SEATS:
        problems.append(("seats", f"{vehicle.seats} seats; cars with 1 to {MAX_SEATS} take part"))
    return problems


def photo_problems(season: int, start_photo: date, end_photo: date) -> list[tuple[str, str]]:
    """(column, problem) for the odometer photos of the season starting in December `season`."""
    start = date(season, 12, 1)
    end_first, end_last = date(season + 1, 4, 1), date(season + 1, 4, END_PHOTO_DAYS)
    problems: list[tuple[str, str]] = []
    if start_photo >= start:
        problems.append(
            (
                "start_photo_at",
                f"{start_photo} is not before the season starting {start}; the start photo "
                "must be registered by the day before",
            )
        )
    if not end_first <= end_photo <= end_last:
        problems.append(
            (
                "end_photo_at",
                f"{end_photo} is not between {end_first} and {end_last}; the end photo is "
                f"registered within the first {END_PHOTO_DAYS} days after the season",
            )
        )
    return problems
