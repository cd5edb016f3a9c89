"""Deterministic demo data for the embedded default: members and one feed per program.

The same seed always yields the same files, so ``make run`` twice imports the same awards (and
the award ids make the second import a no-op). The files use the documented feed formats
(docs/feeds.md) and go through exactly the import path a real feed takes.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ledger.feeds import safecsv
from ledger.feeds.formats import ORG_SELECTION_COLUMNS, VEHICLE_COLUMNS

DISTRICTS = (
    "Jongno-gu",
    "Jung-gu",
    "Yongsan-gu",
    "Seongdong-gu",
    "Gwangjin-gu",
    "Dongdaemun-gu",
    "Jungnang-gu",
    "Seongbuk-gu",
    "Gangbuk-gu",
    "Dobong-gu",
    "Nowon-gu",
    "Eunpyeong-gu",
    "Seodaemun-gu",
    "Mapo-gu",
    "Yangcheon-gu",
    "Gangseo-gu",
    "Guro-gu",
    "Geumcheon-gu",
    "Yeongdeungpo-gu",
    "Dongjak-gu",
    "Gwanak-gu",
    "Seocho-gu",
    "Gangnam-gu",
    "Songpa-gu",
    "Gangdong-gu",
)

MEMBERS_HEADER = [
    "member_id",
    "program",
    "citizen_id",
    "district",
    "donation_consent",
    "joined_at",
    "consent_at",
    "terms_version",
    "consent_channel",
]
CONSENT_EVIDENCE = ("2025-03-02", "donation-terms-2025-01", "app")
"""Consent evidence of the demo's consenting members (consent_at, terms_version, channel)."""
ORG_SELECTED = ("true", "2", "true")
"""Demo organisations: electricity registered, two energy types, a saving case submitted."""
CAR_OK = ("true", "false", "5")
"""Demo cars: registered in Seoul, private, 5 seats (docs/feeds.md, CAR)."""
SEASON_PHOTOS = ("2024-11-20", "2025-04-05")
"""Odometer photos of the 2024 season: before it starts, within 10 days after it ends."""
JOINED_FROM = date(2015, 1, 1)
JOINED_DAYS = 3500
"""Demo sign-up dates spread over 2015-01-01 .. 2024-07, before every demo window."""


def joined_at(member_id: str) -> str:
    """The demo sign-up date of `member_id` (deterministic, drawn apart from the demo's rng)."""
    return str(JOINED_FROM + timedelta(days=zlib.crc32(member_id.encode()) % JOINED_DAYS))


ECO_HEADER = [
    "member_id",
    "window_start",
    "window_end",
    "electricity_kwh",
    "electricity_kwh_prev1",
    "electricity_kwh_prev2",
    "gas_m3",
    "gas_m3_prev1",
    "gas_m3_prev2",
    "water_m3",
    "water_m3_prev1",
    "water_m3_prev2",
    "heat_mcal",
    "heat_mcal_prev1",
    "heat_mcal_prev2",
]


@dataclass(frozen=True)
class DemoFiles:
    """Where the generated demo files are."""

    members: Path
    feeds: dict[str, Path]  # program name -> feed CSV


def _usage(rng: random.Random, base: float, saving: float) -> list[str]:
    prev1 = base * rng.uniform(0.95, 1.05)
    prev2 = base * rng.uniform(0.95, 1.05)
    current = (prev1 + prev2) / 2 * (1 - saving)
    return [f"{current:.1f}", f"{prev1:.1f}", f"{prev2:.1f}"]


def generate(out_dir: Path, citizens: int = 3000, seed: int = 20211) -> DemoFiles:
    """Write members.csv and one feed per program into ``out_dir``."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    members: list[list[str]] = []
    eco: list[list[str]] = []
    season: list[list[str]] = []
    car: list[list[str]] = []
    car_season: list[list[str]] = []
    bike: list[list[str]] = []
    org: list[list[str]] = []

    for i in range(1, citizens + 1):
        citizen = f"C{i:07d}"
        district = DISTRICTS[rng.randrange(len(DISTRICTS))]
        consent = "true" if rng.random() < 0.2 else "false"
        if rng.random() < 0.7:
            mid = f"H{i:07d}"
            members.append([mid, "ECO_HOUSEHOLD", citizen, district, consent])
            saving = rng.choice([-0.12, 0.0, 0.03, 0.06, 0.11, 0.18])
            row = [mid, "2025-07", "2025-12", *_usage(rng, 1800, saving), *_usage(rng, 300, saving)]
            row += [*_usage(rng, 60, saving), "", "", ""] if rng.random() < 0.5 else [""] * 6
            eco.append(row)
            members.append([mid, "ECO_SEASON", citizen, district, consent])
            s = rng.choice([0.05, 0.22, 0.31])
            season.append(
                [mid, "2024-12", "2025-03", *_usage(rng, 1300, s), *_usage(rng, 250, s), *[""] * 6]
            )
        if rng.random() < 0.25:
            mid = f"V{i:07d}"
            members.append([mid, "CAR", citizen, district, consent])
            baseline = rng.randrange(4000, 9000)
            actual = baseline - rng.choice([-500, 300, 900, 1500, 2500, 3200])
            car.append(
                [mid, f"{i:05d}-CAR", "2025-05", "2025-10", str(baseline), str(actual), *CAR_OK]
            )
            members.append([mid, "CAR_SEASON", citizen, district, consent])
            km = str(rng.randrange(900, 3500))
            car_season.append([mid, f"{i:05d}-CAR", "2024", km, *CAR_OK, *SEASON_PHOTOS])
        if rng.random() < 0.35:
            mid = f"B{i:07d}"
            members.append([mid, "BIKE", citizen, district, consent])
            for month in range(1, 13):
                if rng.random() < 0.6:
                    days = rng.randrange(3, 25)
                    minutes = str(days * rng.randrange(10, 60))
                    holder = "true" if rng.random() < 0.9 else "false"  # §2.4: pass holders
                    bike.append([mid, f"2025-{month:02d}", str(days), minutes, holder])
    for j in range(1, max(2, citizens // 60) + 1):
        mid = f"O{j:05d}"
        members.append([mid, "ECO_ORG", f"ORG{j:05d}", DISTRICTS[j % len(DISTRICTS)], "false"])
        category = rng.choice(["general", "general", "public", "school"])
        size = rng.choice(["25", "120", "600", "1500"]) if category == "general" else "80"
        rank = rng.choice(["top", "excellent", "encouragement", "none", "none"])
        reduction = rng.choice(["10.0", "12.5", "18.0"])
        org.append([mid, category, size, rank, reduction, *ORG_SELECTED])

    files = {
        "ECO_HOUSEHOLD": ("eco_household.csv", ECO_HEADER, eco),
        "ECO_SEASON": ("eco_season.csv", ECO_HEADER, season),
        "ECO_ORG": (
            "eco_org.csv",
            ["member_id", "category", "size_toe", "rank", "reduction_pct", *ORG_SELECTION_COLUMNS],
            org,
        ),
        "CAR": (
            "car.csv",
            [
                *("member_id", "vehicle_id", "period_start", "period_end"),
                *("baseline_km", "actual_km", *VEHICLE_COLUMNS),
            ],
            car,
        ),
        "CAR_SEASON": (
            "car_season.csv",
            [
                *("member_id", "vehicle_id", "season", "season_km", *VEHICLE_COLUMNS),
                *("start_photo_at", "end_photo_at"),
            ],
            car_season,
        ),
        "BIKE": ("bike.csv", ["member_id", "month", "ride_days", "ride_minutes", "pass_365"], bike),
    }
    feeds: dict[str, Path] = {}
    for program, (name, header, rows) in files.items():
        feeds[program] = _write(out_dir / name, header, rows)
    members = [
        [*row, joined_at(row[0]), *(CONSENT_EVIDENCE if row[4] == "true" else ("", "", ""))]
        for row in members
    ]
    return DemoFiles(members=_write(out_dir / "members.csv", MEMBERS_HEADER, members), feeds=feeds)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = safecsv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    tmp.replace(path)
    return path
