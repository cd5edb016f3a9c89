"""``mileage run`` reaches the API's server by name: without it, a clear error and exit 1."""

from __future__ import annotations

import pytest
import typer

from ledger.cli import run


def test_the_api_server_is_found_by_name() -> None:
    assert callable(run._api_server().serve)


def test_a_missing_api_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run, "API_SERVER", "api.no_such_server")
    with pytest.raises(typer.Exit) as exit_:
        run._api_server()
    assert exit_.value.exit_code == 1
    err = capsys.readouterr().err
    assert "api.no_such_server, which is not installed" in err and "--no-serve" in err


def test_an_import_error_inside_the_api_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run.importlib, "import_module", _fails_inside)
    with pytest.raises(ModuleNotFoundError, match="fastapi_extra"):
        run._api_server()


def _fails_inside(name: str) -> None:
    raise ModuleNotFoundError("No module named 'fastapi_extra'", name="fastapi_extra")
