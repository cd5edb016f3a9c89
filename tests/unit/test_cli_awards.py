"""`mileage awards compute` through typer's CliRunner (no chain, no database)."""

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.cli import awards
from ledger.domain import awards as awards_mod
from ledger.domain.codes import Program
from ledger.domain.keys import DEMO_KEYS

runner = CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rides.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_compute_prints_one_row_per_good_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "member_id,month,ride_days,ride_minutes,pass_365\nB1,2024-01,12,100,true\nB2,2024-01,3,100,true\n",
    )
    result = runner.invoke(awards.app, ["compute", "--program", "bike", str(path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["line"], r["member_id"], r["amount"], r["tier"]) for r in rows] == [
        ("2", "B1", "300", "per_minute"),
        ("3", "B2", "0", "under_10_days"),
    ]
    assert rows[0]["period"] == "2024-01"
    assert rows[0]["program"] == "BIKE"
    # no MILEAGE_RPC_URL / MILEAGE_DATABASE_URL: the embedded demo, so the demo award key
    expected = awards_mod.award_id(Program.BIKE, "B1", "2024-01", DEMO_KEYS.award)
    assert rows[0]["award_id"] == "0x" + expected.hex()
    assert result.stderr == ""


def test_rejects_go_to_stderr_and_exit_2(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "member_id,month,ride_days,ride_minutes,pass_365\nB1,2024-01,12,100,true\nB1,2024-1,12,-5,true\n",
    )
    result = runner.invoke(awards.app, ["compute", "-p", "BIKE", str(path)])
    assert result.exit_code == 2
    assert result.stdout.count("\n") == 2  # header + one award
    assert result.stderr.splitlines() == [
        f"{path}:3: month: '2024-1' is not a month in the form YYYY-MM; "
        "ride_minutes: '-5' is negative; values must be 0 or more",
        "1 row(s) rejected",
    ]


def test_rejects_file(tmp_path: Path) -> None:
    path = write(tmp_path, "member_id,month,ride_days,ride_minutes,pass_365\nB1,2024-01,12\n")
    out = tmp_path / "rejects.txt"
    result = runner.invoke(awards.app, ["compute", "-p", "BIKE", "--rejects", str(out), str(path)])
    assert result.exit_code == 2
    assert out.read_text(encoding="utf-8") == (
        f"{path}:2: row has 3 cells but the header has 5 columns (missing cells)\n"
    )


def test_org_needs_period(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "member_id,category,size_toe,rank,reduction_pct,electricity_registered,energy_types,"
        "saving_case\nO1,school,0,top,11,true,2,true\n",
    )
    result = runner.invoke(awards.app, ["compute", "-p", "ECO_ORG", str(path)])
    assert result.exit_code == 2
    assert "--period" in result.output
    result = runner.invoke(
        awards.app, ["compute", "-p", "ECO_ORG", "--period", "2024-06..2024-09", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "O1,ECO_ORG,2024-06..2024-09,7000000,school_top" in result.stdout


def test_unknown_program(tmp_path: Path) -> None:
    path = write(tmp_path, "x\n")
    result = runner.invoke(awards.app, ["compute", "-p", "SEOUL", str(path)])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "'SEOUL' is not allowed here; use one of ECO_HOUSEHOLD" in output


def test_mounted_in_main_cli(tmp_path: Path) -> None:
    main = pytest.importorskip("ledger.cli.main", reason="the lead's ledger/cli/main.py")
    app = main.app
    path = write(
        tmp_path, "member_id,month,ride_days,ride_minutes,pass_365\nB1,2024-01,12,100,true\n"
    )
    result = runner.invoke(app, ["awards", "compute", "--program", "BIKE", str(path)])
    assert result.exit_code == 0, result.output
    assert "B1,BIKE,2024-01,300,per_minute" in result.stdout


def test_compute_output_neutralises_formula_cells(tmp_path: Path) -> None:
    """Issue 13.7: a member id such as `=HYPERLINK(...)` must not run in a spreadsheet."""
    path = write(
        tmp_path,
        "member_id,month,ride_days,ride_minutes,pass_365\n"
        '"=HYPERLINK(""http://x"")",2024-01,12,100,true\n@SUM(A1),2024-01,12,100,true\n-B3,2024-01,12,100,true\n',
    )
    result = runner.invoke(awards.app, ["compute", "--program", "bike", str(path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["member_id"] for r in rows] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "'-B3"]
    assert [r["amount"] for r in rows] == ["300", "300", "300"]
