"""Fixtures of the unit tests."""

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def feed(tmp_path: Path) -> Callable[[str, str], Path]:
    """Writes a feed file's text into the test's folder and returns its path."""

    def write(text: str, name: str = "feed.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
