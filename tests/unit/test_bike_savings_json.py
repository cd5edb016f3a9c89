"""The BIKE savings written without the JSON encoder are exactly what ``json.dumps`` writes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledger.service.bike_accruals import _minutes, _ride_json, _savings_json


@pytest.mark.parametrize(
    "savings",
    [
        (("ride_minutes", "1234"),),
        (("ride_minutes", "0"),),
        (("ride_minutes", "12.5"),),
        (("ride_minutes", "١٢"),),  # Arabic-Indic digits: isdigit(), but escaped by json
        (("ride_minutes", '1"2'),),
        (("km", "3"),),
        (("ride_minutes", "1"), ("km", "2")),
    ],
)
def test_savings_json_is_json_dumps(savings: tuple[tuple[str, str], ...]) -> None:
    assert _savings_json(savings) == json.dumps(dict(savings))


def test_no_savings_is_null() -> None:
    assert _savings_json(()) is None


@pytest.mark.parametrize("ride", ["0", "1234", "12.50", "1E+3", "-5", "0.000001"])
def test_ride_json_is_json_dumps(ride: str) -> None:
    value = Decimal(0) + Decimal(ride)
    assert _ride_json(value) == json.dumps({"ride_minutes": str(value)})


@pytest.mark.parametrize(
    "savings",
    [
        None,
        "",
        '{"ride_minutes": "1234"}',
        '{"ride_minutes": "0"}',
        '{"ride_minutes": "12.5"}',
        '{"ride_minutes": "\\u0661\\u0662"}',
        '{"ride_minutes": "1", "km": "2"}',
        '{"km": "2", "ride_minutes": "7"}',
        '{"km": "2"}',
        '{"ride_minutes": 15}',
        '{"ride_minutes":"9"}',
    ],
)
def test_minutes_read_back_as_json_loads_reads_them(savings: str | None) -> None:
    expected = Decimal(str(json.loads(savings).get("ride_minutes", "0"))) if savings else Decimal(0)
    assert _minutes(savings) == expected
    assert str(_minutes(savings)) == str(expected)
